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
	"path/filepath"
	"slices"
	"strconv"
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

// Read calls fn for each selected entry of the json-file log at path and its
// rotated predecessors (<path>.1 is the newest of those), in order, oldest
// first. Tail reads the files backwards from the end of the newest, in blocks,
// never a whole file. With Follow it waits for new entries, across rotations,
// until ctx is done (returning ctx.Err()), StopFollow is closed (after draining
// what was written), or Until has passed. A missing log reads as empty. An
// error from fn stops Read and is returned.
func Read(ctx context.Context, path string, o ReadOptions, fn func(Entry) error) error {
	var w *watcher
	if o.Follow {
		// Watch before the first read so that no write between the two is missed.
		var err error
		if w, err = newWatcher(filepath.Dir(path)); err != nil {
			return err
		}
		defer w.close()
	}
	files, err := openLogs(path)
	if errors.Is(err, fs.ErrNotExist) && o.Follow {
		var f *os.File
		if f, err = waitCreated(ctx, path, o.StopFollow); err == nil {
			files, err = []*logFile{newLogFile(f)}, nil
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	cur := files[0] // the newest, kept for following
	defer func() { cur.f.Close() }()
	for _, lf := range files[1:] {
		defer lf.f.Close()
	}

	// The files to read, oldest first, and where to start in the first one.
	chain := files
	var start int64
	if o.Tail >= 0 {
		need := o.Tail
		for i, lf := range files {
			fi, err := lf.f.Stat()
			if err != nil {
				return err
			}
			off, found, err := tailOffset(lf.f, fi.Size(), need)
			if err != nil {
				return err
			}
			if found >= need || i == len(files)-1 {
				chain, start = files[:i+1], off
				break
			}
			need -= found
		}
	}
	sc := &scanner{buf: make([]byte, blockSize), o: o, fn: fn}
	for i := len(chain) - 1; i >= 0; i-- {
		sc.reset(chain[i].f, start)
		start = 0
		if done, err := sc.drain(); err != nil || done {
			return err
		}
	}
	if !o.Follow {
		return nil
	}
	// Keep following the newest file; when the log path names another file, the
	// writer has rotated: finish the current file, read the ones rotated since,
	// continue in the new one.
	follow := func() (bool, error) {
		for {
			done, err := sc.drain()
			if err != nil || done {
				return done, err
			}
			next, err := successors(path, cur)
			if err != nil || len(next) == 0 {
				return false, err
			}
			// The writer is done with cur: read what it wrote since the drain above.
			done, err = sc.drain()
			if err != nil || done {
				for _, lf := range next {
					lf.f.Close()
				}
				return done, err
			}
			cur.f.Close()
			cur = next[len(next)-1] // closed by Read's deferred close
			for i, lf := range next[:len(next)-1] {
				sc.reset(lf.f, 0)
				done, err := sc.drain()
				lf.f.Close()
				if err != nil || done {
					for _, rest := range next[i+1 : len(next)-1] {
						rest.f.Close()
					}
					return done, err
				}
			}
			sc.reset(cur.f, 0)
		}
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
			_, err := follow()
			return err
		case <-until:
			_, err := follow()
			return err
		case <-w.events:
			if done, err := follow(); err != nil || done {
				return err
			}
		}
	}
}

// logFile is one open log file and its identity.
type logFile struct {
	f   *os.File
	dev uint64
	ino uint64
}

func newLogFile(f *os.File) *logFile {
	lf := &logFile{f: f}
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) == nil {
		lf.dev, lf.ino = st.Dev, st.Ino
	}
	return lf
}

func (lf *logFile) same(o *logFile) bool { return lf.dev == o.dev && lf.ino == o.ino }

// openLogs opens path and then its rotated files (path.1, path.2 …), newest
// first. Opening the newest first and skipping a file already open (by inode)
// gives a consistent sequence even when the writer rotates meanwhile: each
// rotation shifts the names up by one, leaving at most one missing at a time,
// so the probe stops only after two missing names in a row.
func openLogs(path string) ([]*logFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	files := []*logFile{newLogFile(f)}
	misses := 0
next:
	for i := 1; misses < 2; i++ {
		f, err := os.Open(path + "." + strconv.Itoa(i))
		if err != nil {
			misses++
			continue
		}
		misses = 0
		lf := newLogFile(f)
		for _, have := range files {
			if have.same(lf) {
				f.Close()
				continue next
			}
		}
		files = append(files, lf)
	}
	return files, nil
}

// successors returns, oldest first, the files written after cur if path no
// longer names cur (the log rotated); the last one is the new current file.
// It returns nil if there was no rotation.
func successors(path string, cur *logFile) ([]*logFile, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || (st.Dev == cur.dev && st.Ino == cur.ino) {
		return nil, nil
	}
	var files []*logFile
	keep := 0
	for attempt := 0; ; attempt++ {
		var err error
		if files, err = openLogs(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, err
		}
		// files: newest first. Keep those newer than cur; all of them if cur is
		// gone (rotated out), which a second look confirms.
		keep = slices.IndexFunc(files, cur.same)
		if keep >= 0 || attempt == 1 {
			break
		}
		for _, lf := range files {
			lf.f.Close()
		}
		time.Sleep(time.Millisecond)
	}
	if keep < 0 {
		keep = len(files)
	}
	for _, lf := range files[keep:] {
		lf.f.Close()
	}
	files = files[:keep]
	slices.Reverse(files)
	return files, nil
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

// reset moves the scanner to file r at off.
func (s *scanner) reset(r io.ReaderAt, off int64) {
	s.r, s.off, s.pending = r, off, s.pending[:0]
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
// size bytes of r begin, reading backwards in blocks from the end, and how
// many complete lines it found (fewer than n only if the file has fewer: the
// offset is then 0).
func tailOffset(r io.ReaderAt, size int64, n int) (int64, int, error) {
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
			return 0, 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			// The first newline from the end closes the last complete line.
			if seen == n {
				return pos + int64(i) + 1, n, nil
			}
			seen++
		}
	}
	return 0, seen, nil
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

// watcher reports changes in a directory through inotify.
type watcher struct {
	f      *os.File
	events chan struct{}
}

// newWatcher watches the files of directory dir: writes, and files created or
// renamed into it (rotation).
func newWatcher(dir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CLOSE_WRITE|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
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
