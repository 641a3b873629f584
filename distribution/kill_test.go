package distribution

import (
	"bufio"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
)

// TestKilledPull kills (SIGKILL) a process in the middle of a pull, while one layer is
// unpacked and another is half downloaded, and checks that nothing corrupt is left and
// that the next pull completes.
func TestKilledPull(t *testing.T) {
	if root := os.Getenv("BERTH_PULL_CRASH_ROOT"); root != "" {
		e := openEnv(t, root)
		p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{os.Getenv("BERTH_PULL_CRASH_REG")}, NoHub: true, Concurrency: 1})
		var once sync.Once
		p.Pull(ctx, "busybox", nil, func(m jsonstream.Message) {
			if m.Status == "Pull complete" {
				once.Do(func() { os.Stdout.WriteString("ready\n") })
			}
		})
		select {}
	}
	requireRoot(t)
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 4<<20)
	rng.Read(big)
	l1 := layer(t, tarEntry{name: "one", body: "1"})
	l2 := layer(t, tarEntry{name: "two", body: string(big[:1<<20])})
	l3 := layer(t, tarEntry{name: "three", body: string(big)})
	img := imageOf(t, l1, l2, l3)
	d3, _ := l3.Digest()
	var (
		mu      sync.Mutex
		stall   = true
		stalled = make(chan struct{}, 1)
	)
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			s := stall
			mu.Unlock()
			if s && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+d3.String()) {
				h.ServeHTTP(&stallingWriter{ResponseWriter: w, after: 2 << 20, stalled: stalled, done: r.Context().Done()}, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	push(t, reg+"/library/busybox:latest", img)

	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledPull$")
	cmd.Env = append(os.Environ(), "BERTH_PULL_CRASH_ROOT="+root, "BERTH_PULL_CRASH_REG=http://"+reg)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Errorf("helper said %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Error("helper never completed a layer")
	}
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Error("layer 3 download never started")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if t.Failed() {
		return
	}
	mu.Lock()
	stall = false
	mu.Unlock()

	ingest, _ := os.ReadDir(filepath.Join(root, "content", "ingest"))
	if len(ingest) != 1 {
		t.Fatalf("expected a partial download in ingest, got %v", ingest)
	}
	verifyBlobs(t, root)

	e := openEnv(t, root)
	defer e.db.Close()
	if c, a := e.snapshots(t); len(c) < 1 || len(a) != 0 {
		t.Errorf("after restart: committed %v, active %v", c, a)
	}
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	var rec recorder
	got, err := p.Pull(ctx, "busybox", nil, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l1.Digest()
	if seq := rec.byLayer()[d1.Hex[:12]]; len(seq) != 1 || seq[0] != "Already exists" {
		t.Errorf("layer 1 after restart: %q", seq)
	}
	verifyBlobs(t, root)
	rootfs := e.mountImage(t, got)
	for n, want := range map[string][]byte{"one": []byte("1"), "two": big[:1<<20], "three": big} {
		b, err := os.ReadFile(filepath.Join(rootfs, n))
		if err != nil || string(b) != string(want) {
			t.Errorf("%s: %d bytes, %v", n, len(b), err)
		}
	}
}

// stallingWriter passes the first after bytes and then blocks until the request ends.
type stallingWriter struct {
	http.ResponseWriter
	after   int
	n       int
	stalled chan struct{}
	done    <-chan struct{}
}

func (s *stallingWriter) Write(p []byte) (int, error) {
	if s.n+len(p) > s.after {
		p = p[:s.after-s.n]
		s.ResponseWriter.Write(p)
		s.ResponseWriter.(http.Flusher).Flush()
		select {
		case s.stalled <- struct{}{}:
		default:
		}
		<-s.done
		return 0, http.ErrHandlerTimeout
	}
	s.n += len(p)
	return s.ResponseWriter.Write(p)
}
