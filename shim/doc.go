// Package shim is the berth-shim process: it owns one container's stdio, runs
// runc for it, writes its json-file log, records its exit status and serves the
// runtime package's socket protocol. Only cmd/berth-shim imports it.
package shim
