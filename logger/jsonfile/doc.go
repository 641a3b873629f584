// Package jsonfile writes and reads Docker's json-file log format: one JSON object
// per line, {"log":"…","stream":"stdout","time":"<RFC3339Nano UTC>"}, rotated
// into <log>.1, <log>.2 … as the max-size and max-file options say.
package jsonfile
