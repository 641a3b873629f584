package distribution

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	"github.com/berth-dev/berth/snapshot/overlay"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/api/types/jsonstream"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
}

// env is one data root with all stores open.
type env struct {
	root  string
	db    *metadata.DB
	cs    *content.Store
	sn    *overlay.Snapshotter
	store *image.Store
}

func openEnv(t testing.TB, root string) *env {
	t.Helper()
	db, err := metadata.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := content.NewStore(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := overlay.New(filepath.Join(root, "snapshots", "overlay"), db)
	if err != nil {
		t.Fatal(err)
	}
	store, err := image.NewStore(root, db, sn, cs)
	if err != nil {
		t.Fatal(err)
	}
	return &env{root: root, db: db, cs: cs, sn: sn, store: store}
}

func newEnv(t testing.TB) *env {
	e := openEnv(t, t.TempDir())
	t.Cleanup(func() { e.db.Close() })
	return e
}

// snapshots lists the snapshot keys by kind.
func (e *env) snapshots(t testing.TB) (committed, active []string) {
	e.sn.Walk(context.Background(), func(i snapshot.Info) error {
		if i.Kind == snapshot.KindCommitted {
			committed = append(committed, i.Key)
		} else {
			active = append(active, i.Key)
		}
		return nil
	})
	return
}

// mountImage mounts a fresh container rootfs of img and returns its path.
func (e *env) mountImage(t *testing.T, img *image.Image) string {
	t.Helper()
	ctx := context.Background()
	key := "c-" + strings.ReplaceAll(t.Name(), "/", "-")
	m, err := e.store.PrepareRootfs(ctx, key, img)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := snapshot.MountAll(target, m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		snapshot.Unmount(target)
		e.store.RemoveRootfs(ctx, key)
	})
	return target
}

var quiet = registry.Logger(log.New(io.Discard, "", 0))

// newRegistry starts an in-process registry wrapped by mw (may be nil) and returns its host.
func newRegistry(t testing.TB, mw func(http.Handler) http.Handler) string {
	var h http.Handler = registry.New(quiet)
	if mw != nil {
		h = mw(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func pushIndex(t testing.TB, ref string, idx v1.ImageIndex) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
}

type tarEntry struct {
	name, body string
	typ        byte
}

// layer builds a gzip layer of the given entries (regular files unless typ is set).
func layer(t testing.TB, entries ...tarEntry) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		tw.WriteHeader(h)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// recorder collects progress messages.
type recorder struct {
	mu   sync.Mutex
	msgs []jsonstream.Message
}

func (r *recorder) add(m jsonstream.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// statuses returns "id: status" lines, without Downloading/Extracting updates.
func (r *recorder) statuses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if m.Status == "Downloading" || m.Status == "Extracting" {
			continue
		}
		if m.ID != "" {
			out = append(out, m.ID+": "+m.Status)
		} else {
			out = append(out, m.Status)
		}
	}
	return out
}

// byLayer returns the statuses of each layer id in order.
func (r *recorder) byLayer() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, m := range r.msgs {
		if m.ID != "" && len(m.ID) == 12 {
			if n := len(out[m.ID]); n > 0 && out[m.ID][n-1] == m.Status {
				continue
			}
			out[m.ID] = append(out[m.ID], m.Status)
		}
	}
	return out
}
