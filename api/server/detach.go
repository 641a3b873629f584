package server

import (
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/errdefs"
)

// defaultDetachKeys is ctrl-p ctrl-q, docker's default escape sequence.
var defaultDetachKeys = []byte{16, 17}

// parseDetachKeys reads docker's "ctrl-p,ctrl-q" / "a,ctrl-b" notation.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return defaultDetachKeys, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(strings.ToLower(k), "ctrl-") && len(k) == 6:
			c := strings.ToLower(k)[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c == '[':
				out = append(out, 27)
			case c == '\\':
				out = append(out, 28)
			case c == ']':
				out = append(out, 29)
			case c == '^':
				out = append(out, 30)
			case c == '_':
				out = append(out, 31)
			default:
				return nil, errdefs.InvalidParameter(fmt.Sprintf("Invalid escape keys (%s) provided", s))
			}
		default:
			return nil, errdefs.InvalidParameter(fmt.Sprintf("Invalid escape keys (%s) provided", s))
		}
	}
	return out, nil
}

// errDetached ends stdin forwarding without closing the container's stdin.
var errDetached = fmt.Errorf("detached from container")

// detachReader passes stdin through until the escape sequence is typed, then calls
// onDetach and fails with errDetached. Bytes of a partial match are held back and
// released if the sequence breaks off.
type detachReader struct {
	r        io.Reader
	keys     []byte
	held     []byte
	pending  []byte
	onDetach func()
	buf      []byte
	detached bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	if len(d.pending) > 0 {
		n := copy(p, d.pending)
		d.pending = d.pending[n:]
		return n, nil
	}
	if d.detached {
		return 0, errDetached
	}
	if cap(d.buf) < len(p) {
		d.buf = make([]byte, len(p))
	}
	n, err := d.r.Read(d.buf[:len(p)])
	var out []byte
	for _, b := range d.buf[:n] {
		if b == d.keys[len(d.held)] {
			d.held = append(d.held, b)
			if len(d.held) == len(d.keys) {
				d.detached = true
				d.onDetach()
				break
			}
			continue
		}
		out = append(out, d.held...)
		d.held = d.held[:0]
		if b == d.keys[0] {
			d.held = append(d.held, b)
			continue
		}
		out = append(out, b)
	}
	if err != nil && !d.detached {
		out = append(out, d.held...) // a partial sequence at the end of input is plain input
		d.held = nil
	}
	c := copy(p, out)
	d.pending = append(d.pending, out[c:]...)
	switch {
	case d.detached:
		if c == 0 && len(d.pending) == 0 {
			return 0, errDetached
		}
		return c, nil
	case err == io.EOF && len(d.pending) > 0:
		return c, nil // deliver the rest first; the next read hits EOF again
	case c == 0 && err == nil:
		return d.Read(p)
	}
	return c, err
}
