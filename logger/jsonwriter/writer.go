package jsonwriter

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/logger"
)

// Options are the json-file driver's rotation settings.
type Options struct {
	MaxSize  int64 // rotate once the file would exceed this many bytes; 0 = never
	MaxFiles int   // files kept, the current one included (<log>.1 … are older); 0 = 1
}

const (
	flushSize  = 64 << 10              // buffered bytes that force a write
	flushDelay = 50 * time.Millisecond // longest time an entry stays buffered
)

var _ logger.Writer = (*Writer)(nil)

// Writer appends entries to a json-file log, rotating it as Options say. It is
// safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	path   string
	o      Options
	f      *os.File
	size   int64 // bytes in f
	buf    []byte
	timer  *time.Timer
	armed  bool
	err    error
	closed bool
}

// NewWriter opens (creating if needed) the log file at path for appending.
func NewWriter(path string, o Options) (*Writer, error) {
	if o.MaxSize < 0 || o.MaxFiles < 0 {
		return nil, errors.New("json-file: negative max-size or max-file")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &Writer{path: path, o: o, f: f, size: fi.Size(), buf: make([]byte, 0, 4096)}
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
	if err := w.writeLocked(w.buf); err != nil {
		w.err = err
		return err
	}
	if cap(w.buf) > 4*flushSize {
		w.buf = make([]byte, 0, 4096)
	} else {
		w.buf = w.buf[:0]
	}
	if w.armed {
		w.armed = false
		w.timer.Stop()
	}
	return nil
}

// writeLocked writes whole entries, rotating first whenever the next ones
// would take the file beyond MaxSize (a single larger entry gets a file alone).
func (w *Writer) writeLocked(b []byte) error {
	for len(b) > 0 {
		n := len(b)
		if w.o.MaxSize > 0 && w.size+int64(n) > w.o.MaxSize {
			room := max(w.o.MaxSize-w.size, 0)
			n = bytes.LastIndexByte(b[:min(int64(len(b)), room)], '\n') + 1
			if n == 0 && w.size == 0 {
				n = bytes.IndexByte(b, '\n') + 1
				if n == 0 {
					n = len(b)
				}
			}
		}
		if n > 0 {
			m, err := w.f.Write(b[:n])
			w.size += int64(m)
			if err != nil {
				return err
			}
			b = b[n:]
		}
		if len(b) > 0 {
			if err := w.rotate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// rotate makes the current file <path>.1 (shifting older ones, dropping the
// oldest) and continues in a new empty file. The log path always names a file:
// the new one replaces the old one with a rename, so readers never miss it.
func (w *Writer) rotate() error {
	keep := max(w.o.MaxFiles, 1)
	if keep > 1 {
		last := 1 // the first free index, or keep-1 (the oldest, overwritten)
		for last < keep-1 {
			if _, err := os.Lstat(rotated(w.path, last)); err != nil {
				break
			}
			last++
		}
		for i := last; i > 1; i-- {
			if err := os.Rename(rotated(w.path, i-1), rotated(w.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if err := os.Remove(rotated(w.path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Link(w.path, rotated(w.path, 1)); err != nil {
			return err
		}
	}
	tmp := w.path + ".rotating"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, w.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	w.f.Close()
	w.f, w.size = f, 0
	return nil
}

// rotated is the name of the i-th older log file.
func rotated(path string, i int) string { return path + "." + strconv.Itoa(i) }

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
