// Package shimproto is the wire protocol between the runtime package's shim
// client and berth-shim: request and response lines, frames, state file names.
package shimproto
