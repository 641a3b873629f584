// Package server serves the Docker Engine API over HTTP on top of the daemon package:
// routing, version negotiation, stream framing and error-to-status mapping.
package server
