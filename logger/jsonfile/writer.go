package jsonfile

import (
	"errors"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/logger"
)

const (
	flushSize  = 64 << 10              // buffered bytes that force a write
	flushDelay = 50 * time.Millisecond // longest time an entry stays buffered
)

var _ logger.Writer = (*Writer)(nil)

// Writer appends entries to a json-file log. It is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	buf    []byte
	timer  *time.Timer
	armed  bool
	err    error
	closed bool
}

// NewWriter opens (creating if needed) the log file at path for appending.
func NewWriter(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, buf: make([]byte, 0, 4096)}
	w.timer = time.AfterFunc(time.Hour, func() { w.Flush() })
	w.timer.Stop()
	return w, nil
}

// WriteEntry buffers one entry; it reaches the file on Flush, when the buffer
// fills, or at the latest flushDelay later.
func (w *Writer) WriteEntry(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	w.buf = AppendEntry(w.buf, stream, line, t)
	if len(w.buf) >= flushSize {
		return w.flushLocked()
	}
	if !w.armed {
		w.armed = true
		w.timer.Reset(flushDelay)
	}
	return nil
}

// Flush writes all buffered entries to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		_, err := w.f.Write(w.buf)
		if err != nil {
			w.err = err
			return err
		}
		if cap(w.buf) > 4*flushSize {
			w.buf = make([]byte, 0, 4096)
		} else {
			w.buf = w.buf[:0]
		}
	}
	if w.armed {
		w.armed = false
		w.timer.Stop()
	}
	return nil
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flushLocked()
	w.closed = true
	w.timer.Stop()
	return errors.Join(err, w.f.Close())
}

// AppendEntry appends the json-file line for one entry (with its newline) to b.
func AppendEntry(b []byte, stream string, line []byte, t time.Time) []byte {
	b = append(b, `{"log":`...)
	b = appendString(b, line)
	b = append(b, `,"stream":`...)
	b = appendString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way Docker does: HTML-safe, control
// characters as \u00XX, invalid UTF-8 as U+FFFD.
func appendString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
