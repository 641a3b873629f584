package jsonfile

import (
	"time"

	"github.com/berth-dev/berth/logger/jsonwriter"
)

// Writer appends entries to a json-file log (see package jsonwriter).
type Writer = jsonwriter.Writer

// NewWriter opens (creating if needed) the log file at path for appending.
func NewWriter(path string, o Options) (*Writer, error) { return jsonwriter.NewWriter(path, o) }

// AppendEntry appends the json-file line for one entry (with its newline) to b.
func AppendEntry(b []byte, stream string, line []byte, t time.Time) []byte {
	return jsonwriter.AppendEntry(b, stream, line, t)
}
