package runtime

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// reportMedian adds the median of the per-iteration durations as "median-ms".
func reportMedian(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/float64(time.Millisecond), "median-ms")
}

// BenchmarkShimRunTrue measures what `berth run --rm busybox true` costs in the
// runtime layer: Spawn, Attach, Start, Wait and Cleanup of a shim running `true`.
func BenchmarkShimRunTrue(b *testing.B) {
	e := newEnv(b)
	ctx := t0ctx(b)
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		id := newID(b)
		dir, logPath := e.bundle(SpecOptions{ID: id, Args: []string{"true"}})
		b.StartTimer()
		start := time.Now()
		s, err := e.m.Spawn(ctx, ShimOptions{ID: id, Bundle: dir, LogPath: logPath})
		if err != nil {
			b.Fatal(err)
		}
		done, err := s.Attach(ctx, nil, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		st, err := s.Wait(ctx)
		if err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
		<-done
		if err := e.m.Cleanup(ctx, id); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportMedian(b, ds)
}

// BenchmarkShimUntilExit is BenchmarkShimRunTrue up to the exit status only,
// without the cleanup (runc delete), which the daemon can overlap with its own work.
func BenchmarkShimUntilExit(b *testing.B) {
	e := newEnv(b)
	ctx := t0ctx(b)
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		id := newID(b)
		dir, logPath := e.bundle(SpecOptions{ID: id, Args: []string{"true"}})
		b.StartTimer()
		start := time.Now()
		s, err := e.m.Spawn(ctx, ShimOptions{ID: id, Bundle: dir, LogPath: logPath})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if st, err := s.Wait(ctx); err != nil || st.Code != 0 {
			b.Fatal(st, err)
		}
		ds = append(ds, time.Since(start))
		b.StopTimer()
		if err := e.m.Cleanup(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportMedian(b, ds)
}

// BenchmarkRuncRunTrue is the floor: plain `runc run` of the same bundle.
func BenchmarkRuncRunTrue(b *testing.B) {
	e := newEnv(b)
	root := b.TempDir()
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		id := newID(b)
		dir, _ := e.bundle(SpecOptions{ID: id, Args: []string{"true"}})
		b.StartTimer()
		start := time.Now()
		cmd := exec.Command(runcPath, "--root", root, "run", "--bundle", dir, id)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportMedian(b, ds)
}
