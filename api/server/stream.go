package server

import (
	"encoding/binary"
	"io"
	"net/http"
	"sync"
)

// Stream ids of Docker's multiplexed framing.
const (
	streamStdout = 1
	streamStderr = 2
)

// muxWriter frames writes as Docker's multiplexed stream: 8-byte header
// (stream id, 3 zero bytes, big-endian length) then the payload. Writers sharing one
// underlying connection share one lock.
type muxWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
	flush  func()
}

func (m *muxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var hdr [8]byte
	hdr[0] = m.stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := m.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := m.w.Write(p)
	if m.flush != nil {
		m.flush()
	}
	return n, err
}

// lockedWriter serialises raw (TTY) writes from several goroutines.
type lockedWriter struct {
	mu    *sync.Mutex
	w     io.Writer
	flush func()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if l.flush != nil {
		l.flush()
	}
	return n, err
}

// outputWriters returns stdout and stderr writers over w: multiplexed without a TTY,
// raw (both to the same stream) with one.
func outputWriters(w io.Writer, tty bool, flush func()) (io.Writer, io.Writer) {
	mu := &sync.Mutex{}
	if tty {
		lw := &lockedWriter{mu: mu, w: w, flush: flush}
		return lw, lw
	}
	return &muxWriter{mu: mu, w: w, stream: streamStdout, flush: flush}, &muxWriter{mu: mu, w: w, stream: streamStderr, flush: flush}
}

func contentType(tty bool) string {
	if tty {
		return "application/vnd.docker.raw-stream"
	}
	return "application/vnd.docker.multiplexed-stream"
}

func flusher(w http.ResponseWriter) func() {
	if f, ok := w.(http.Flusher); ok {
		return f.Flush
	}
	return nil
}
