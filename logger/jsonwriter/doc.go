// Package jsonwriter appends Docker's json-file log format, one JSON object per
// line, rotating it into <log>.1, <log>.2 …; it is kept apart from the reader so
// that berth-shim, which only writes, stays small.
package jsonwriter
