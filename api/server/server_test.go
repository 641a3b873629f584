package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"log/slog"
)

func TestVersionPrefixAndNegotiation(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), mux: http.NewServeMux()}
	s.handle("GET /_ping", s.ping)
	s.handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.New(errdefs.ErrNotImplemented, "no route "+r.URL.Path)
	})
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/_ping", 200, "OK"},
		{"/v1.47/_ping", 200, "OK"},
		{"/v1.24/_ping", 200, "OK"},
		{"/v1.99/_ping", 400, "client version 1.99 is too new. Maximum supported API version is 1.47"},
		{"/v1.12/_ping", 400, "client version 1.12 is too old"},
		{"/v1.47/nothing/here", 501, `"message":"no route /nothing/here"`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
				t.Fatalf("got %d %q", rec.Code, rec.Body.String())
			}
			if rec.Header().Get("Api-Version") != "1.47" {
				t.Errorf("Api-Version header: %q", rec.Header().Get("Api-Version"))
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for err, want := range map[error]int{
		errdefs.NotFound("No such container: x"):   404,
		errdefs.Conflict("in use"):                 409,
		errdefs.InvalidParameter("bad"):            400,
		errdefs.New(errdefs.ErrNotImplemented, ""): 501,
		io.ErrUnexpectedEOF:                        500,
	} {
		rec := httptest.NewRecorder()
		s.writeError(rec, httptest.NewRequest("GET", "/", nil), err)
		if rec.Code != want {
			t.Errorf("%v: got %d want %d", err, rec.Code, want)
		}
		if !strings.Contains(rec.Body.String(), `"message":`) {
			t.Errorf("%v: body %q", err, rec.Body.String())
		}
	}
}

func TestDecodeFilters(t *testing.T) {
	for _, raw := range []string{`{"name":{"web":true}}`, `{"name":["web"]}`} {
		f, err := decodeFilters(raw)
		if err != nil || len(f["name"]) != 1 || f["name"][0] != "web" {
			t.Errorf("%s: %v %v", raw, f, err)
		}
	}
	if _, err := decodeFilters(`{"name":`); !errdefs.IsInvalidParameter(err) {
		t.Errorf("malformed filters: %v", err)
	}
}

func TestParseTimestamp(t *testing.T) {
	got, err := parseTimestamp("1700000000.5")
	if err != nil || !got.Equal(time.Unix(1700000000, 500000000)) {
		t.Fatalf("%v %v", got, err)
	}
	if got, _ := parseTimestamp(""); !got.IsZero() {
		t.Error("empty must be zero")
	}
	if _, err := parseTimestamp("yesterday"); !errdefs.IsInvalidParameter(err) {
		t.Error("garbage must be refused")
	}
}

func TestMultiplexedFraming(t *testing.T) {
	var buf bytes.Buffer
	out, errw := outputWriters(&buf, false, nil)
	out.Write([]byte("hello\n"))
	errw.Write([]byte("oops\n"))
	b := buf.Bytes()
	for _, want := range []struct {
		stream byte
		data   string
	}{{1, "hello\n"}, {2, "oops\n"}} {
		if len(b) < 8 || b[0] != want.stream || b[1]|b[2]|b[3] != 0 {
			t.Fatalf("bad header %v", b)
		}
		n := binary.BigEndian.Uint32(b[4:8])
		if string(b[8:8+n]) != want.data {
			t.Fatalf("payload %q", b[8:8+n])
		}
		b = b[8+n:]
	}
	buf.Reset()
	out, errw = outputWriters(&buf, true, nil)
	out.Write([]byte("a"))
	errw.Write([]byte("b"))
	if buf.String() != "ab" {
		t.Errorf("tty stream must be raw: %q", buf.String())
	}
}
