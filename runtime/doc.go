// Package runtime generates OCI runtime specs with Docker's defaults and
// options (resources, security, init) and drives containers through
// berth-shim: spawning shims, talking their socket protocol (attach, exec),
// pausing them, and reading what a shim left behind after it exited.
package runtime
