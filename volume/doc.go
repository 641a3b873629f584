// Package volume is Berth's volume store with Docker's "local" driver: each volume is a
// directory <root>/<name>/_data, or, with type/device/o options, a file system mounted
// there while containers use it.
package volume
