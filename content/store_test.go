package content

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	digest "github.com/opencontainers/go-digest"
)

func blob(t testing.TB, n int) ([]byte, digest.Digest) {
	b := make([]byte, n)
	rand.Read(b)
	return b, digest.FromBytes(b)
}

func newStore(t *testing.T) (*Store, string) {
	root := t.TempDir()
	s, err := NewStore(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func ingestEntries(t *testing.T, root string) []string {
	ents, err := os.ReadDir(filepath.Join(root, "content", "ingest"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestIngestReadDelete(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	data, dgst := blob(t, 300<<10)
	if s.Exists(ctx, dgst) {
		t.Fatal("blob exists before ingest")
	}
	if err := Ingest(ctx, s, dgst, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, dgst)
	if err != nil || info.Size != int64(len(data)) || info.Digest != dgst {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if _, err := os.Stat(filepath.Join(root, "content", "blobs", "sha256", dgst.Encoded())); err != nil {
		t.Fatalf("blob not at its path: %v", err)
	}
	got, err := ReadBlob(ctx, s, dgst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadBlob: %v, equal=%v", err, bytes.Equal(got, data))
	}
	ra, err := s.ReaderAt(ctx, dgst)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 10)
	if _, err := ra.ReadAt(part, 1000); err != nil || !bytes.Equal(part, data[1000:1010]) || ra.Size() != int64(len(data)) {
		t.Fatalf("ReadAt: %v", err)
	}
	ra.Close()
	rc, err := s.Open(ctx, dgst)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(all, data) {
		t.Fatal("Open returned other data")
	}
	// Ingesting again is a no-op; Writer says it exists.
	if err := Ingest(ctx, s, dgst, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer(ctx, dgst, int64(len(data))); !errors.Is(err, ErrExists) || !errdefs.IsConflict(err) {
		t.Fatalf("Writer of stored blob: %v", err)
	}
	var walked []digest.Digest
	s.Walk(ctx, func(i Info) error { walked = append(walked, i.Digest); return nil })
	if len(walked) != 1 || walked[0] != dgst {
		t.Fatalf("Walk = %v", walked)
	}
	if err := s.Delete(ctx, dgst); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := s.Info(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Fatalf("Info after delete: %v", err)
	}
	if n := ingestEntries(t, root); len(n) != 0 {
		t.Fatalf("ingest not empty: %v", n)
	}
}

func TestIngestRejects(t *testing.T) {
	ctx := context.Background()
	data, dgst := blob(t, 4096)
	other, _ := blob(t, 4096)
	for _, tc := range []struct {
		name string
		dgst digest.Digest
		size int64
		data []byte
	}{
		{"wrong digest", dgst, 4096, other},
		{"short", dgst, 4096, data[:4000]},
		{"long", dgst, 4000, data},
		{"size mismatch with right digest", dgst, 5000, data},
		{"bad digest", "sha256:xyz", 4096, data},
		{"other algorithm", digest.Digest("sha512:" + dgst.Encoded() + dgst.Encoded()), 4096, data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, root := newStore(t)
			if err := Ingest(ctx, s, tc.dgst, tc.size, bytes.NewReader(tc.data)); err == nil {
				t.Fatal("ingest succeeded")
			}
			if s.Exists(ctx, dgst) {
				t.Fatal("corrupt blob is visible")
			}
			if n := ingestEntries(t, root); len(n) != 0 {
				t.Fatalf("partial data left: %v", n)
			}
		})
	}
}

func TestIngestUnknownDigest(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	data, dgst := blob(t, 1000)
	w, err := s.Writer(ctx, "", -1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if w.Digest() != dgst || w.Written() != 1000 {
		t.Fatal("wrong running digest")
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Exists(ctx, dgst) || len(ingestEntries(t, root)) != 0 {
		t.Fatal("blob not committed cleanly")
	}
}

func TestStaleIngestOverwritten(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	data, dgst := blob(t, 64<<10)
	// A killed attempt left half the data and some garbage under the same name, and a
	// corrupt temp file of an unknown-digest write.
	ing := filepath.Join(root, "content", "ingest")
	os.WriteFile(filepath.Join(ing, dgst.Encoded()), append(data[:1000:1000], "garbage"...), 0o600)
	if err := Ingest(ctx, s, dgst, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, _ := ReadBlob(ctx, s, dgst)
	if !bytes.Equal(got, data) {
		t.Fatal("stale ingest data leaked into blob")
	}
	os.WriteFile(filepath.Join(ing, "tmp-0123"), []byte("corrupt"), 0o600)
	os.WriteFile(filepath.Join(ing, dgst.Encoded()), []byte("half"), 0o600)
	if _, err := NewStore(filepath.Join(root, "content")); err != nil {
		t.Fatal(err)
	}
	if n := ingestEntries(t, root); len(n) != 0 {
		t.Fatalf("NewStore left stale ingest files: %v", n)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	data, dgst := blob(t, 1<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Ingest(ctx, s, dgst, int64(len(data)), bytes.NewReader(data))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _ := ReadBlob(ctx, s, dgst)
	if !bytes.Equal(got, data) || len(ingestEntries(t, root)) != 0 {
		t.Fatal("concurrent ingest corrupted the blob")
	}
}

func TestWriterWaitHonoursContext(t *testing.T) {
	s, _ := newStore(t)
	_, dgst := blob(t, 10)
	w, err := s.Writer(context.Background(), dgst, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Writer(ctx, dgst, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("second writer: %v", err)
	}
}

// TestKilledIngest kills (SIGKILL) a process in the middle of an ingest and checks that
// no blob becomes visible and that the next ingest of the same blob succeeds.
func TestKilledIngest(t *testing.T) {
	if root := os.Getenv("BERTH_CONTENT_CRASH_ROOT"); root != "" {
		s, err := NewStore(filepath.Join(root, "content"))
		if err != nil {
			panic(err)
		}
		data, _ := os.ReadFile(filepath.Join(root, "data"))
		w, err := s.Writer(context.Background(), digest.FromBytes(data), int64(len(data)))
		if err != nil {
			panic(err)
		}
		w.Write(data[:len(data)/2])
		os.Stdout.WriteString("ready\n")
		select {}
	}
	ctx := context.Background()
	root := t.TempDir()
	data, dgst := blob(t, 2<<20)
	os.WriteFile(filepath.Join(root, "data"), data, 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledIngest$")
	cmd.Env = append(os.Environ(), "BERTH_CONTENT_CRASH_ROOT="+root)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	if line != "ready\n" {
		t.Fatalf("helper said %q", line)
	}
	if n := ingestEntries(t, root); len(n) != 1 {
		t.Fatalf("expected one partial ingest file, got %v", n)
	}
	s, err := NewStore(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, dgst) {
		t.Fatal("killed ingest left a visible blob")
	}
	if err := Ingest(ctx, s, dgst, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, _ := ReadBlob(ctx, s, dgst)
	if !bytes.Equal(got, data) {
		t.Fatal("blob differs after recovery")
	}
}
