package logger

import (
	"bytes"
	"io"
	"time"
)

// MaxLineSize is the longest entry written for one line; longer lines are split
// into partial entries of this size, as Docker does.
const MaxLineSize = 16 * 1024

// Writer is a log driver sink.
type Writer interface {
	// WriteEntry logs one line (with its trailing newline, unless partial).
	WriteEntry(stream string, line []byte, t time.Time) error
	// Flush makes every entry written so far visible to readers.
	Flush() error
}

// Copy reads r until EOF and logs its content to w as entries of stream, one per
// line. A line longer than MaxLineSize, or a last line without newline, becomes
// partial entries without newline. Every chunk read is passed to tee (if not nil)
// before it is logged; tee must not keep the slice. w is flushed after each chunk. It returns the first read
// error other than EOF; write errors to w are returned after r is drained.
func Copy(w Writer, stream string, r io.Reader, tee func([]byte)) error {
	buf := make([]byte, 2*MaxLineSize)
	n := 0 // bytes pending in buf[:n], no newline among them
	var werr error
	write := func(line []byte, t time.Time) {
		if werr == nil && w != nil {
			werr = w.WriteEntry(stream, line, t)
		}
	}
	for {
		m, err := r.Read(buf[n:])
		if m > 0 {
			if tee != nil {
				tee(buf[n : n+m])
			}
			now := time.Now()
			start, scan, end := 0, n, n+m
			for {
				i := bytes.IndexByte(buf[scan:end], '\n')
				if i < 0 {
					break
				}
				stop := scan + i + 1
				for stop-start > MaxLineSize {
					write(buf[start:start+MaxLineSize], now)
					start += MaxLineSize
				}
				write(buf[start:stop], now)
				start, scan = stop, stop
			}
			for end-start >= MaxLineSize {
				write(buf[start:start+MaxLineSize], now)
				start += MaxLineSize
			}
			n = copy(buf, buf[start:end])
			if werr == nil && w != nil {
				werr = w.Flush()
			}
		}
		if err != nil {
			if n > 0 {
				write(buf[:n], time.Now())
			}
			if werr == nil && w != nil {
				werr = w.Flush()
			}
			if err == io.EOF {
				return werr
			}
			return err
		}
	}
}
