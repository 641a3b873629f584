// Package overlay is the overlayfs Snapshotter: each snapshot is a directory
// <root>/snapshots/overlay/<n>/{fs,work} with its record in the metadata database.
package overlay
