// Package archive applies OCI and Docker layer tar streams to directories: it detects
// compression, writes every entry without ever leaving the target directory or following
// a symlink, converts whiteouts to overlayfs form and reports the layer's DiffID.
package archive
