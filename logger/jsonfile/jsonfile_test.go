package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 22, 0, 0, 123456789, time.UTC)

func TestAppendEntryDockerFormat(t *testing.T) {
	got := string(AppendEntry(nil, "stdout", []byte("hello\n"), t0))
	want := `{"log":"hello\n","stream":"stdout","time":"2026-11-26T22:00:00.123456789Z"}` + "\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Docker escapes HTML characters and control bytes; time is converted to UTC.
	loc := time.FixedZone("x", 3600)
	got = string(AppendEntry(nil, "stderr", []byte("<a&b>\"\\\t\x01\r\n"), time.Date(2026, 1, 2, 3, 4, 5, 0, loc)))
	want = `{"log":"\u003ca\u0026b\u003e\"\\\t\u0001\r\n","stream":"stderr","time":"2026-01-02T02:04:05Z"}` + "\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	lines := []string{
		"hello\n", "", "no newline", "tab\tquote\"back\\slash\n", "ünïcödé ✓ 😀\n",
		"\x00\x1f\x7f\n", "<html>&amp;</html>\n", "\u2028\u2029\n", strings.Repeat("x", 70000) + "\n",
	}
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if err := w.WriteEntry([]string{"stdout", "stderr"}[i%2], []byte(l), t0.Add(time.Duration(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Every line is valid JSON that encoding/json decodes to the same value.
	raw, _ := os.ReadFile(path)
	for i, l := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		var j jsonEntry
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if j.Log != lines[i] {
			t.Fatalf("line %d: json decoded %q want %q", i, j.Log, lines[i])
		}
	}
	var got []Entry
	if err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(e Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lines) {
		t.Fatalf("got %d entries, want %d", len(got), len(lines))
	}
	for i, e := range got {
		if string(e.Line) != lines[i] || e.Stream != []string{"stdout", "stderr"}[i%2] || !e.Time.Equal(t0.Add(time.Duration(i))) {
			t.Fatalf("entry %d = %q %s %v", i, e.Line, e.Stream, e.Time)
		}
	}
}

func TestInvalidUTF8AndSurrogates(t *testing.T) {
	b := AppendEntry(nil, "stdout", []byte("a\xffb\n"), t0)
	e, err := decode(bytes.TrimSuffix(b, []byte("\n")))
	if err != nil || string(e.Line) != "a\uFFFDb\n" {
		t.Fatalf("got %q, %v", e.Line, err)
	}
	// A Docker file may carry escaped surrogate pairs and extra fields.
	e, err = decode([]byte(`{"log":"\ud83d\ude00 \u00e9\n","stream":"stdout","attrs":{"a":"b"},"time":"2026-11-26T22:00:00Z"}`))
	if err != nil || string(e.Line) != "😀 é\n" || e.Stream != "stdout" {
		t.Fatalf("got %q %q, %v", e.Line, e.Stream, err)
	}
}

func writeLines(t testing.TB, path string, n int, start time.Time) {
	t.Helper()
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.WriteEntry("stdout", fmt.Appendf(nil, "line %d\n", i), start.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, path string, o ReadOptions) []string {
	t.Helper()
	var got []string
	if err := Read(context.Background(), path, o, func(e Entry) error {
		got = append(got, strings.TrimSuffix(string(e.Line), "\n"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestTailSinceUntil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLines(t, path, 10, t0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		name string
		o    ReadOptions
		want string
	}{
		{"all", ReadOptions{Tail: -1}, "line 0,line 1,line 2,line 3,line 4,line 5,line 6,line 7,line 8,line 9"},
		{"tail0", ReadOptions{Tail: 0}, ""},
		{"tail1", ReadOptions{Tail: 1}, "line 9"},
		{"tail3", ReadOptions{Tail: 3}, "line 7,line 8,line 9"},
		{"tail more than lines", ReadOptions{Tail: 50}, "line 0,line 1,line 2,line 3,line 4,line 5,line 6,line 7,line 8,line 9"},
		{"since", ReadOptions{Tail: -1, Since: at(7)}, "line 7,line 8,line 9"},
		{"until", ReadOptions{Tail: -1, Until: at(2)}, "line 0,line 1,line 2"},
		{"since until", ReadOptions{Tail: -1, Since: at(3), Until: at(4)}, "line 3,line 4"},
		{"tail then since", ReadOptions{Tail: 5, Since: at(8)}, "line 8,line 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(collect(t, path, tc.o), ","); got != tc.want {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
}

func TestTailIgnoresIncompleteLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLines(t, path, 3, t0)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"log":"half`)
	f.Close()
	if got := strings.Join(collect(t, path, ReadOptions{Tail: 2}), ","); got != "line 1,line 2" {
		t.Fatalf("got %q", got)
	}
}

func TestMissingFile(t *testing.T) {
	if got := collect(t, filepath.Join(t.TempDir(), "nope"), ReadOptions{Tail: -1}); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestTailTouchesOnlyTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLines(t, path, 200000, t0) // ≈ 15 MB
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	cr := &countingReaderAt{r: f}
	var got []string
	off, found, err := tailOffset(cr, fi.Size(), 5)
	if err != nil || found != 5 {
		t.Fatal(found, err)
	}
	sc := &scanner{buf: make([]byte, blockSize), o: ReadOptions{Tail: 5}, fn: func(e Entry) error {
		got = append(got, strings.TrimSpace(string(e.Line)))
		return nil
	}}
	sc.reset(cr, off)
	if _, err := sc.drain(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "line 199995,line 199996,line 199997,line 199998,line 199999" {
		t.Fatalf("got %v", got)
	}
	if read := cr.n.Load(); read > 2*blockSize {
		t.Fatalf("tail of 5 lines read %d bytes of a %d byte file", read, fi.Size())
	}
	// A tail spanning several blocks reads backwards block by block.
	cr.n.Store(0)
	off, _, err = tailOffset(cr, fi.Size(), 3000)
	if err != nil {
		t.Fatal(err)
	}
	if read, span := cr.n.Load(), fi.Size()-off; read < span || read > span+blockSize {
		t.Fatalf("tail of 3000 lines (%d bytes) read %d bytes", span, read)
	}
}

func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLines(t, path, 2, t0)
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Tail: 1, Follow: true, StopFollow: stop}, func(e Entry) error {
			lines <- string(e.Line)
			return nil
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("got %q want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %q", want)
		}
	}
	expect("line 1\n")
	w.WriteEntry("stdout", []byte("appended\n"), time.Now())
	w.Flush()
	expect("appended\n")
	// A line written with only the timer flush is seen too.
	w.WriteEntry("stderr", []byte("timer\n"), time.Now())
	expect("timer\n")
	// Lines written right before StopFollow are drained before Read returns.
	w.WriteEntry("stdout", []byte("last\n"), time.Now())
	w.Flush()
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after StopFollow")
	}
	expect("last\n")
}

func TestFollowContextCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLines(t, path, 1, t0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true}, func(Entry) error { return nil })
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

func TestFnErrorStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeLines(t, path, 5, t0)
	boom := errors.New("boom")
	n := 0
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(Entry) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err %v after %d entries", err, n)
	}
}

func BenchmarkWriteEntry(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log")
	w, err := NewWriter(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	line := []byte(strings.Repeat("0123456789", 10) + "\n")
	now := time.Now()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteEntry("stdout", line, now); err != nil {
			b.Fatal(err)
		}
	}
	w.Flush()
}

func BenchmarkTail100(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log")
	writeLines(b, path, 500000, t0) // ≈ 38 MB
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := Read(context.Background(), path, ReadOptions{Tail: 100}, func(Entry) error { n++; return nil }); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkReadAll(b *testing.B) {
	path := filepath.Join(b.TempDir(), "log")
	writeLines(b, path, 200000, t0)
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := Read(context.Background(), path, ReadOptions{Tail: -1}, func(Entry) error { n++; return nil }); err != nil || n != 200000 {
			b.Fatal(n, err)
		}
	}
}
