// Package runtime generates OCI runtime specs with Docker's defaults and drives
// containers through berth-shim: spawning shims, talking their socket protocol,
// and reading what a shim left behind after it exited.
package runtime
