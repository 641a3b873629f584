package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/logger/jsonfile"
)

func TestLogRotationThroughShim(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	dir, logPath := e.bundle(SpecOptions{ID: id, Args: []string{"seq", "1", "5000"}})
	s, err := e.m.Spawn(ctx, ShimOptions{ID: id, Bundle: dir, LogPath: logPath, LogMaxSize: 10000, LogMaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Wait(ctx); err != nil || st.Code != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	names, _ := filepath.Glob(logPath + "*")
	if len(names) != 3 {
		t.Fatalf("log files %v", names)
	}
	for _, n := range names {
		if fi, _ := os.Stat(n); fi.Size() > 10000 {
			t.Fatalf("%s has %d bytes", n, fi.Size())
		}
	}
	var got []string
	if err := jsonfile.Read(ctx, logPath, jsonfile.ReadOptions{Tail: -1}, func(e jsonfile.Entry) error {
		got = append(got, strings.TrimSpace(string(e.Line)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	first := 5001 - len(got)
	for i, l := range got {
		if l != fmt.Sprint(first+i) {
			t.Fatalf("entry %d is %q, want %d", i, l, first+i)
		}
	}
	if len(got) < 100 || got[len(got)-1] != "5000" {
		t.Fatalf("read %d entries", len(got))
	}
}

// BenchmarkLog200MB writes 200 MB of base64 lines from a container through the
// shim into its json-file log, then reads the log back in full and tails 10
// lines; without rotation and with max-size=10m max-file=3. Run with
// -bench Log200MB -benchtime 3x.
func BenchmarkLog200MB(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchLog(b, 0, 0) })
	b.Run("rotated-10m-3", func(b *testing.B) { benchLog(b, 10_000_000, 3) })
}

func benchLog(b *testing.B, maxSize int64, maxFiles int) {
	e := newEnv(b)
	ctx := context.Background()
	var exits, reads, tails []time.Duration
	var size int64
	for b.Loop() {
		id := newID(b)
		// 150 MiB of random bytes are 200 MiB of base64 in 76-column lines.
		dir, logPath := e.bundle(SpecOptions{ID: id, Args: []string{"sh", "-c", "head -c 150m /dev/urandom | base64"}})
		start := time.Now()
		s, err := e.m.Spawn(ctx, ShimOptions{ID: id, Bundle: dir, LogPath: logPath, LogMaxSize: maxSize, LogMaxFiles: maxFiles})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if st, err := s.Wait(ctx); err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
		exits = append(exits, time.Since(start))
		fi, _ := os.Stat(logPath)
		size = fi.Size()

		start = time.Now()
		var n, bytes int
		if err := jsonfile.Read(ctx, logPath, jsonfile.ReadOptions{Tail: -1}, func(e jsonfile.Entry) error {
			n++
			bytes += len(e.Line)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		reads = append(reads, time.Since(start))
		if (maxSize == 0 && bytes < 200<<20) || (maxSize > 0 && int64(bytes) < maxSize) {
			b.Fatalf("read %d bytes in %d entries", bytes, n)
		}

		start = time.Now()
		n = 0
		if err := jsonfile.Read(ctx, logPath, jsonfile.ReadOptions{Tail: 10}, func(jsonfile.Entry) error { n++; return nil }); err != nil || n != 10 {
			b.Fatal(n, err)
		}
		tails = append(tails, time.Since(start))
		if err := e.m.Cleanup(ctx, id); err != nil {
			b.Fatal(err)
		}
		names, _ := filepath.Glob(logPath + "*")
		for _, n := range names {
			os.Remove(n)
		}
	}
	median := func(d []time.Duration) float64 {
		s := append([]time.Duration(nil), d...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return s[len(s)/2].Seconds()
	}
	b.ReportMetric(median(exits), "exit-s")
	b.ReportMetric(median(reads), "read-s")
	b.ReportMetric(median(tails)*1000, "tail10-ms")
	b.ReportMetric(float64(size)/(1<<20), "log-MiB")
}
