// Package image keeps image records and the references (name:tag, name@digest) that
// point at them, and prepares container root filesystems from an image's layers.
package image
