// Package daemon is Berth's service layer: containers and their lifecycle, images as
// the API sees them, and system information. The API server and tests call it.
package daemon
