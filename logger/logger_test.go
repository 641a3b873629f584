package logger_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/berth-dev/berth/logger"
)

type rec struct {
	lines   []string
	flushes int
}

func (r *rec) WriteEntry(stream string, line []byte, t time.Time) error {
	r.lines = append(r.lines, stream+":"+string(line))
	return nil
}
func (r *rec) Flush() error { r.flushes++; return nil }

func TestCopySplitsLikeDocker(t *testing.T) {
	long := strings.Repeat("a", 40000)
	exact := strings.Repeat("b", logger.MaxLineSize)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"lines", "hello\nworld\n", []string{"hello\n", "world\n"}},
		{"empty lines", "\n\nx\n", []string{"\n", "\n", "x\n"}},
		{"last line partial", "a\nno newline", []string{"a\n", "no newline"}},
		{"crlf kept (tty)", "hi\r\n", []string{"hi\r\n"}},
		{"long line split", long + "\n", []string{long[:16384], long[16384:32768], long[32768:] + "\n"}},
		{"exactly max then newline", exact + "\nz\n", []string{exact, "\n", "z\n"}},
		{"max minus one fits", exact[1:] + "\n", []string{exact[1:] + "\n"}},
		{"long partial at eof", long, []string{long[:16384], long[16384:32768], long[32768:]}},
	} {
		for _, reader := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"bytewise", iotest.OneByteReader}, {"halves", iotest.HalfReader}} {
			t.Run(tc.name+"/"+reader.name, func(t *testing.T) {
				var r rec
				var tee bytes.Buffer
				if err := logger.Copy(&r, "stdout", reader.wrap(strings.NewReader(tc.in)), func(b []byte) { tee.Write(b) }); err != nil {
					t.Fatal(err)
				}
				if tee.String() != tc.in {
					t.Fatalf("tee got %d bytes, want %d", tee.Len(), len(tc.in))
				}
				if len(r.lines) != len(tc.want) {
					t.Fatalf("got %d entries want %d: %q", len(r.lines), len(tc.want), r.lines)
				}
				for i := range r.lines {
					if r.lines[i] != "stdout:"+tc.want[i] {
						t.Fatalf("entry %d: got %q want %q", i, r.lines[i], tc.want[i])
					}
				}
				if r.flushes == 0 {
					t.Fatal("never flushed")
				}
			})
		}
	}
}
