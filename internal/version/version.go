// Package version holds Berth's version, set at link time by the Makefile.
package version

// Version and Commit are overridden with -ldflags "-X …" at build time.
var (
	Version = "0.1.0-dev"
	Commit  = "unknown"
)
