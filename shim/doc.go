// Package shim is the berth-shim process: it owns one container's stdio and
// that of its exec processes, runs runc for them, writes the container's
// json-file log (rotating it), records its exit status and serves the runtime
// package's socket protocol. Only cmd/berth-shim imports it.
package shim
