package server

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDetachReader(t *testing.T) {
	cases := []struct {
		in       string
		out      string
		detached bool
	}{
		{"hello\n", "hello\n", false},
		{"ab\x10\x11cd", "ab", true},
		{"a\x10b", "a\x10b", false},    // broken-off sequence is passed through
		{"\x10\x10\x11", "\x10", true}, // restart on a repeated first key
		{"x\x10", "x\x10", false},      // a prefix at EOF is delivered
	}
	for _, c := range cases {
		detached := false
		r := &detachReader{r: strings.NewReader(c.in), keys: defaultDetachKeys, onDetach: func() { detached = true }}
		got, err := io.ReadAll(r)
		if string(got) != c.out || detached != c.detached {
			t.Errorf("%q: got %q detached=%v err=%v", c.in, got, detached, err)
		}
		if c.detached && !errors.Is(err, errDetached) {
			t.Errorf("%q: want errDetached, got %v", c.in, err)
		}
	}
}

func TestParseDetachKeys(t *testing.T) {
	got, err := parseDetachKeys("ctrl-a,x")
	if err != nil || string(got) != "\x01x" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := parseDetachKeys("ctrl-long"); err == nil {
		t.Error("bad keys accepted")
	}
}
