package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

const blockSize = 64 << 10 // read size, forwards and backwards

// Entry is one decoded log line.
type Entry struct {
	Stream string
	Line   []byte // with its trailing newline unless it was a partial line
	Time   time.Time
}

// ReadOptions select which entries Read yields.
type ReadOptions struct {
	Tail       int             // last N lines; -1 = all, 0 = none
	Follow     bool            // keep reading as the file grows
	Since      time.Time       // skip entries before this (zero = no bound)
	Until      time.Time       // stop at entries after this (zero = no bound)
	StopFollow <-chan struct{} // closed when the writer is done; Read drains and returns
}

// Read calls fn for each selected entry of the json-file log at path, in order.
// Tail reads the file backwards from its end in blocks, never the whole file.
// With Follow it waits for new entries until ctx is done (returning ctx.Err()),
// StopFollow is closed (after draining what was written), or Until has passed.
// A missing file reads as empty. An error from fn stops Read and is returned.
func Read(ctx context.Context, path string, o ReadOptions, fn func(Entry) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && o.Follow {
		f, err = waitCreated(ctx, path, o.StopFollow)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	var w *watcher
	if o.Follow {
		// Watch before the first read so that no write between the two is missed.
		if w, err = newWatcher(path); err != nil {
			return err
		}
		defer w.close()
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	sc, err := newScanner(f, fi.Size(), o, fn)
	if err != nil {
		return err
	}
	done, err := sc.drain()
	if err != nil || done || !o.Follow {
		return err
	}
	var until <-chan time.Time
	if !o.Until.IsZero() {
		t := time.NewTimer(time.Until(o.Until))
		defer t.Stop()
		until = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-o.StopFollow:
			_, err := sc.drain()
			return err
		case <-until:
			_, err := sc.drain()
			return err
		case <-w.events:
			if done, err := sc.drain(); err != nil || done {
				return err
			}
		}
	}
}

// waitCreated waits (polling, off the hot path) until path exists.
func waitCreated(ctx context.Context, path string, stop <-chan struct{}) (*os.File, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-stop:
			return os.Open(path)
		case <-t.C:
			f, err := os.Open(path)
			if !errors.Is(err, fs.ErrNotExist) {
				return f, err
			}
		}
	}
}

// scanner decodes entries forward from an offset.
type scanner struct {
	r       io.ReaderAt
	off     int64
	buf     []byte
	pending []byte // incomplete last line
	o       ReadOptions
	fn      func(Entry) error
}

func newScanner(r io.ReaderAt, size int64, o ReadOptions, fn func(Entry) error) (*scanner, error) {
	var off int64
	if o.Tail >= 0 {
		var err error
		if off, err = tailOffset(r, size, o.Tail); err != nil {
			return nil, err
		}
	}
	return &scanner{r: r, off: off, buf: make([]byte, blockSize), o: o, fn: fn}, nil
}

// drain reads to the current end of the file; done reports that Until was passed.
func (s *scanner) drain() (done bool, err error) {
	for {
		n, rerr := s.r.ReadAt(s.buf, s.off)
		s.off += int64(n)
		data := s.buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				s.pending = append(s.pending, data...)
				break
			}
			line := data[:i]
			if len(s.pending) > 0 {
				line = append(s.pending, line...)
				s.pending = s.pending[:0]
			}
			data = data[i+1:]
			if done, err := s.emit(line); err != nil || done {
				return done, err
			}
		}
		if rerr == io.EOF || (rerr == nil && n == 0) {
			return false, nil
		}
		if rerr != nil {
			return false, rerr
		}
	}
}

func (s *scanner) emit(line []byte) (bool, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return false, nil
	}
	e, err := decode(line)
	if err != nil {
		return false, err
	}
	if !s.o.Since.IsZero() && e.Time.Before(s.o.Since) {
		return false, nil
	}
	if !s.o.Until.IsZero() && e.Time.After(s.o.Until) {
		return true, nil
	}
	return false, s.fn(e)
}

// tailOffset returns the offset where the last n complete lines of the first
// size bytes of r begin, reading backwards in blocks from the end.
func tailOffset(r io.ReaderAt, size int64, n int) (int64, error) {
	buf := make([]byte, blockSize)
	seen := 0
	pos := size
	for pos > 0 {
		m := int64(len(buf))
		if pos < m {
			m = pos
		}
		pos -= m
		b := buf[:m]
		if _, err := r.ReadAt(b, pos); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			// The first newline from the end closes the last complete line.
			if seen == n {
				return pos + int64(i) + 1, nil
			}
			seen++
		}
	}
	return 0, nil
}

type jsonEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// decode parses one json-file line, fast for the layout AppendEntry writes.
func decode(line []byte) (Entry, error) {
	if e, ok := decodeFast(line); ok {
		return e, nil
	}
	var j jsonEntry
	if err := json.Unmarshal(line, &j); err != nil {
		return Entry{}, fmt.Errorf("invalid json-file log line: %w", err)
	}
	return Entry{Stream: j.Stream, Line: []byte(j.Log), Time: j.Time}, nil
}

func decodeFast(b []byte) (Entry, bool) {
	var e Entry
	b, ok := bytes.CutPrefix(b, []byte(`{"log":"`))
	if !ok {
		return e, false
	}
	e.Line, b, ok = unquote(b)
	if !ok {
		return e, false
	}
	if b, ok = bytes.CutPrefix(b, []byte(`,"stream":"`)); !ok {
		return e, false
	}
	i := bytes.IndexByte(b, '"')
	if i < 0 {
		return e, false
	}
	switch s := b[:i]; string(s) {
	case "stdout":
		e.Stream = "stdout"
	case "stderr":
		e.Stream = "stderr"
	default:
		if bytes.IndexByte(s, '\\') >= 0 {
			return e, false
		}
		e.Stream = string(s)
	}
	if b, ok = bytes.CutPrefix(b[i+1:], []byte(`,"time":"`)); !ok {
		return e, false
	}
	i = bytes.IndexByte(b, '"')
	if i < 0 || string(b[i:]) != `"}` {
		return e, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:i]))
	if err != nil {
		return e, false
	}
	e.Time = t
	return e, true
}

// unquote decodes a JSON string body up to its closing quote and returns the rest.
func unquote(b []byte) (out, rest []byte, ok bool) {
	end := -1
	esc := false
	for i, c := range b {
		if c == '\\' {
			esc = true
			// Find the real end below, slowly.
			break
		}
		if c == '"' {
			end = i
			break
		}
	}
	if !esc {
		if end < 0 {
			return nil, nil, false
		}
		return append([]byte(nil), b[:end]...), b[end+1:], true
	}
	out = make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return out, b[i+1:], true
		case c < 0x20:
			return nil, nil, false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, false
		}
		switch b[i+1] {
		case '"', '\\', '/':
			out = append(out, b[i+1])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				return nil, nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if len(b) >= i+6 && b[i] == '\\' && b[i+1] == 'u' {
					r2, ok = hex4(b[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, nil, false
		}
		i += 2
	}
	return nil, nil, false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// watcher reports modifications of a file through inotify.
type watcher struct {
	f      *os.File
	events chan struct{}
}

func newWatcher(path string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", path, err)
	}
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), events: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := w.f.Read(buf); err != nil {
				return
			}
			select {
			case w.events <- struct{}{}:
			default:
			}
		}
	}()
	return w, nil
}

func (w *watcher) close() { w.f.Close() }
