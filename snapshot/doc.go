// Package snapshot defines the Snapshotter interface through which image layers and
// container read-write layers are stored and mounted, and helpers to mount them.
package snapshot
