package runtime

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// smapsRollup returns the kB fields of /proc/pid/smaps_rollup.
func smapsRollup(t testing.TB, pid int) map[string]int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			out[k], _ = strconv.Atoi(f[0])
		}
	}
	return out
}

// TestIdleShimMemory measures what an idle container's shim costs: its
// private memory (anonymous pages and page tables are what each container
// really adds; the binary's pages are shared by all shims) and its RSS.
func TestIdleShimMemory(t *testing.T) {
	if os.Getenv("BERTH_SHIM_RACE") != "" {
		t.Skip("the race detector's shadow memory would be measured")
	}
	e := newEnv(t)
	ctx := t0ctx(t)
	const n = 5
	var pids []int
	for i := 0; i < n; i++ {
		s, _ := e.spawn(SpecOptions{Args: []string{"sleep", "100"}})
		if _, err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(e.m.StateDir(s.ID()) + "/shim.pid")
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		pids = append(pids, pid)
	}
	time.Sleep(500 * time.Millisecond)
	var rss, pss, anon, priv, threads, pt int
	for _, pid := range pids {
		r := smapsRollup(t, pid)
		rss += r["Rss"]
		pss += r["Pss"]
		anon += r["Anonymous"]
		priv += r["Private_Clean"] + r["Private_Dirty"]
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "Threads:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				threads += n
			}
			if v, ok := strings.CutPrefix(l, "VmPTE:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				pt += n
			}
		}
	}
	t.Logf("per idle shim (mean of %d): RSS %d kB, PSS %d kB, private %d kB, anonymous %d kB, page tables %d kB, threads %.1f",
		n, rss/n, pss/n, priv/n, anon/n, pt/n, float64(threads)/n)
	if perContainer := (priv + pt) / n; perContainer > 3*1024 {
		t.Fatalf("an idle shim costs %d kB of private memory, more than 3 MB", perContainer)
	}
	// RSS counts the binary's resident pages too (shared by all shims, but
	// what ps and top show per container): issue 3 wants it at most 3 MB.
	if r := rss / n; r > 3*1024 {
		t.Fatalf("an idle shim has %d kB RSS, more than 3 MB", r)
	}
}
