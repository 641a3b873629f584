// Package jsonfile writes and reads Docker's json-file log format: one JSON object
// per line, {"log":"…","stream":"stdout","time":"<RFC3339Nano UTC>"}.
package jsonfile
