package jsonfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
)

func TestParseLogOpts(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]string
		want Options
		err  string
	}{
		{in: nil, want: Options{MaxFiles: 1}},
		{in: map[string]string{"max-size": "10m", "max-file": "3"}, want: Options{MaxSize: 10_000_000, MaxFiles: 3}},
		{in: map[string]string{"max-size": "1k"}, want: Options{MaxSize: 1000, MaxFiles: 1}},
		{in: map[string]string{"max-size": "2g", "compress": "false"}, want: Options{MaxSize: 2_000_000_000, MaxFiles: 1}},
		{in: map[string]string{"max-size": "1.5MB"}, want: Options{MaxSize: 1_500_000, MaxFiles: 1}},
		{in: map[string]string{"max-size": "ten"}, err: `invalid max-size "ten"`},
		{in: map[string]string{"max-size": "0"}, err: "max-size must be a positive number"},
		{in: map[string]string{"max-size": "-5m"}, err: "invalid max-size"},
		{in: map[string]string{"max-file": "0"}, err: "max-file cannot be less than 1"},
		{in: map[string]string{"max-file": "x"}, err: `invalid max-file "x": invalid syntax`},
		{in: map[string]string{"foo": "bar"}, err: "unknown log opt 'foo' for json-file log driver"},
		{in: map[string]string{"compress": "true"}, err: "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{in: map[string]string{"compress": "true", "max-size": "1m", "max-file": "2"}, err: "compress=true is not supported"},
		{in: map[string]string{"labels": "a"}, err: "log opt 'labels' is not supported"},
	} {
		got, err := ParseLogOpts(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidParameter(err) {
				t.Errorf("%v: got %+v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// writeN writes entries "n 0" … "n N-1" through a writer with o.
func writeN(t *testing.T, path string, o Options, from, n int) {
	t.Helper()
	w, err := NewWriter(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if err := w.WriteEntry("stdout", fmt.Appendf(nil, "n %d\n", i), t0); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			w.Flush()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("n %d", i))
	}
	return out
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	o := Options{MaxSize: 1000, MaxFiles: 3}
	writeN(t, path, o, 0, 100)
	writeN(t, path, o, 100, 20) // a restarted writer continues the same rotation
	names, _ := filepath.Glob(path + "*")
	if want := []string{path, path + ".1", path + ".2"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files %v", names)
	}
	count := 0
	for _, n := range names {
		fi, _ := os.Stat(n)
		if fi.Size() > o.MaxSize || fi.Size() == 0 {
			t.Fatalf("%s has %d bytes", n, fi.Size())
		}
		b, _ := os.ReadFile(n)
		count += strings.Count(string(b), "\n")
	}
	// Full reads cover the kept files, oldest first, with no gap or repeat.
	all := collect(t, path, ReadOptions{Tail: -1})
	if !reflect.DeepEqual(all, seq(120-count, 120)) {
		t.Fatalf("full read %v", all)
	}
	b, _ := os.ReadFile(path)
	inNewest := strings.Count(string(b), "\n")
	for _, n := range []int{0, 1, 5, inNewest, inNewest + 3, count, count + 50} {
		got := collect(t, path, ReadOptions{Tail: n})
		want := seq(120-min(n, count), 120)
		if n == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("tail %d: %v", n, got)
		}
	}
}

func TestRotationSingleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeN(t, path, Options{MaxSize: 500, MaxFiles: 1}, 0, 100)
	names, _ := filepath.Glob(path + "*")
	fi, _ := os.Stat(path)
	if len(names) != 1 || fi.Size() > 500 {
		t.Fatalf("files %v, size %d", names, fi.Size())
	}
	got := collect(t, path, ReadOptions{Tail: -1})
	if len(got) == 0 || got[len(got)-1] != "n 99" || !reflect.DeepEqual(got, seq(100-len(got), 100)) {
		t.Fatalf("read %v", got)
	}
	// An entry larger than max-size gets a file to itself.
	big := filepath.Join(t.TempDir(), "log")
	w, _ := NewWriter(big, Options{MaxSize: 100, MaxFiles: 2})
	w.WriteEntry("stdout", []byte(strings.Repeat("x", 300)+"\n"), t0)
	w.WriteEntry("stdout", []byte("small\n"), t0)
	w.Close()
	got = collect(t, big, ReadOptions{Tail: -1})
	if len(got) != 2 || got[1] != "small" || len(got[0]) != 300 {
		t.Fatalf("read %v", got)
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	o := Options{MaxSize: 2000, MaxFiles: 1000}
	w, err := NewWriter(path, o)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	got := make(chan string, 10000)
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, StopFollow: stop}, func(e Entry) error {
			got <- strings.TrimSpace(string(e.Line))
			return nil
		})
	}()
	const n = 3000
	for i := range n {
		w.WriteEntry("stdout", fmt.Appendf(nil, "n %d\n", i), time.Now())
		if i%50 == 0 {
			w.Flush()
			time.Sleep(time.Millisecond)
		}
	}
	w.Close()
	close(stop)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end")
	}
	close(got)
	i := 0
	for line := range got {
		if line != fmt.Sprintf("n %d", i) {
			t.Fatalf("entry %d is %q", i, line)
		}
		i++
	}
	if i != n {
		t.Fatalf("followed %d of %d entries", i, n)
	}
	if names, _ := filepath.Glob(path + ".*"); len(names) < 10 {
		t.Fatalf("only %d rotations", len(names))
	}
}

func TestFollowAcrossRotationSingleFile(t *testing.T) {
	// With max-file=1 the old file is replaced: a follower finishes it, then reads the new one.
	path := filepath.Join(t.TempDir(), "log")
	w, err := NewWriter(path, Options{MaxSize: 300, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	got := make(chan string, 1000)
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Tail: -1, Follow: true, StopFollow: stop}, func(e Entry) error {
			got <- strings.TrimSpace(string(e.Line))
			return nil
		})
	}()
	for i := range 40 {
		w.WriteEntry("stdout", fmt.Appendf(nil, "n %d\n", i), time.Now())
		w.Flush()
		time.Sleep(2 * time.Millisecond)
	}
	w.Close()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(got)
	var lines []string
	for l := range got {
		lines = append(lines, l)
	}
	if !reflect.DeepEqual(lines, seq(0, 40)) {
		t.Fatalf("followed %v", lines)
	}
}
