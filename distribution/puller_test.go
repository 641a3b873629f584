package distribution

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/snapshot"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var ctx = context.Background()

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, WorkingDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func configDigest(t testing.TB, img v1.Image) string {
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func manifestDigest(t testing.TB, img interface{ Digest() (v1.Hash, error) }) string {
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestPullThroughMirror(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	l1 := layer(t, tarEntry{name: "bin/", typ: tar.TypeDir}, tarEntry{name: "bin/sh", body: "shell"}, tarEntry{name: "etc/gone", body: "x"}, tarEntry{name: "opq/old", body: "old"})
	l2 := layer(t, tarEntry{name: "etc/.wh.gone"}, tarEntry{name: "opq/", typ: tar.TypeDir}, tarEntry{name: "opq/.wh..wh..opq"}, tarEntry{name: "opq/new", body: "new"})
	l3 := layer(t, tarEntry{name: "bin/sh", body: "shell v2"})
	img := imageOf(t, l1, l2, l3)
	push(t, reg+"/library/busybox:latest", img)

	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	var rec recorder
	got, err := p.Pull(ctx, "busybox", nil, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	md := manifestDigest(t, img)
	if got.ID != configDigest(t, img) || !slices.Equal(got.RepoTags, []string{"busybox:latest"}) ||
		!slices.Equal(got.RepoDigests, []string{"busybox@" + md}) || got.ManifestDigest != md || len(got.ChainIDs) != 3 {
		t.Fatalf("image = %+v", got)
	}
	if !slices.Equal(got.Config.Config.Cmd, []string{"sh"}) || got.Config.Config.WorkingDir != "/w" {
		t.Errorf("config = %+v", got.Config.Config)
	}
	var want int64
	for _, l := range []v1.Layer{l1, l2, l3} {
		rc, _ := l.Uncompressed()
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		want += n
	}
	if got.Size != want {
		t.Errorf("Size = %d, want %d", got.Size, want)
	}
	st := rec.statuses()
	if st[0] != "latest: Pulling from library/busybox" || st[len(st)-2] != "Digest: "+md || st[len(st)-1] != "Status: Downloaded newer image for busybox:latest" {
		t.Errorf("statuses = %q", st)
	}
	for _, l := range []v1.Layer{l1, l2, l3} {
		d, _ := l.Digest()
		seq := rec.byLayer()[d.Hex[:12]]
		if !slices.Equal(seq, []string{"Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"}) {
			t.Errorf("layer %s: %q", d.Hex[:12], seq)
		}
	}
	// The merged rootfs shows the top layers' view, whiteouts applied.
	root := e.mountImage(t, got)
	for n, want := range map[string]string{"bin/sh": "shell v2", "opq/new": "new", "etc/gone": "", "opq/old": ""} {
		b, err := os.ReadFile(filepath.Join(root, n))
		if (want == "" && err == nil) || (want != "" && string(b) != want) {
			t.Errorf("%s = %q, %v; want %q", n, b, err, want)
		}
	}
	// Everything is findable by the names Docker accepts.
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "busybox@" + md, got.ID, got.ID[7:19]} {
		if i, err := e.store.Get(ctx, ref); err != nil || i.ID != got.ID {
			t.Errorf("Get(%q) = %v", ref, err)
		}
	}
	// A second pull is up to date and touches no layer.
	rec = recorder{}
	if _, err := p.Pull(ctx, "docker.io/library/busybox:latest", nil, rec.add); err != nil {
		t.Fatal(err)
	}
	if st := rec.statuses(); !slices.Equal(st, []string{"latest: Pulling from library/busybox", "Digest: " + md, "Status: Image is up to date for busybox:latest"}) {
		t.Errorf("second pull: %q", st)
	}
	if c, a := e.snapshots(t); len(c) != 3 || !slices.Equal(a, []string{"c-TestPullThroughMirror"}) {
		t.Errorf("snapshots: committed %v active %v", c, a)
	}
}

func TestPullDirectAndErrors(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	img, _ := random.Image(1024, 2)
	push(t, reg+"/team/app:v1", img)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{})
	got, err := p.Pull(ctx, reg+"/team/app:v1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.RepoTags, []string{reg + "/team/app:v1"}) {
		t.Errorf("RepoTags = %v", got.RepoTags)
	}
	// By digest: only the digest reference is added.
	md := manifestDigest(t, img)
	var rec recorder
	if _, err := p.Pull(ctx, reg+"/team/app@"+md, nil, rec.add); err != nil {
		t.Fatal(err)
	}
	if st := rec.statuses(); st[0] != md+": Pulling from team/app" || st[len(st)-1] != "Status: Image is up to date for "+reg+"/team/app@"+md {
		t.Errorf("statuses = %q", st)
	}

	for _, tc := range []struct {
		ref, msg string
		check    func(error) bool
	}{
		{reg + "/team/app:nosuchtag", "manifest for " + reg + "/team/app:nosuchtag not found: manifest unknown: manifest unknown", errdefs.IsNotFound},
		{reg + "/team/nosuch", "pull access denied for " + reg + "/team/nosuch, repository does not exist or may require 'docker login'", errdefs.IsNotFound},
		{"Invalid", "invalid reference format: repository name (library/Invalid) must be lowercase", errdefs.IsInvalidParameter},
	} {
		_, err := p.Pull(ctx, tc.ref, nil, nil)
		if err == nil || err.Error() != tc.msg || !tc.check(err) {
			t.Errorf("Pull(%s) = %v", tc.ref, err)
		}
	}
	// An unreachable registry fails clearly.
	_, err = p.Pull(ctx, "127.0.0.1:1/x:latest", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable: %v", err)
	}
	if c, a := e.snapshots(t); len(c) != 2 || len(a) != 0 {
		t.Errorf("snapshots: committed %v active %v", c, a)
	}
}

func TestMirrorFallthrough(t *testing.T) {
	requireRoot(t)
	hub := newRegistry(t, nil)
	empty := newRegistry(t, nil)
	img, _ := random.Image(512, 1)
	push(t, hub+"/library/alpine:3", img)
	broken := newRegistry(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	})
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://127.0.0.1:1", "http://" + broken, "http://" + empty}, Hub: "http://" + hub})
	got, err := p.Pull(ctx, "alpine:3", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.RepoTags, []string{"alpine:3"}) {
		t.Errorf("RepoTags = %v", got.RepoTags)
	}
	// Not anywhere: Docker's message for Hub.
	p = NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + empty, "http://127.0.0.1:1"}, NoHub: true})
	_, err = p.Pull(ctx, "nosuchimage", nil, nil)
	if !errdefs.IsNotFound(err) || err.Error() != "pull access denied for nosuchimage, repository does not exist or may require 'docker login'" {
		t.Errorf("missing image: %v", err)
	}
}

func TestEndpoints(t *testing.T) {
	p := NewPuller(nil, nil, nil, Options{
		Mirrors:  []string{"http://127.0.0.1:5000", "https://mirror.example", "plain.example:5000"},
		Insecure: []string{"plain.example:5000", "10.0.0.0/8", "reg.local"},
	})
	named, _ := image.ParseRef("busybox")
	eps, err := p.endpoints(named)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ep := range eps {
		got = append(got, fmt.Sprintf("%s %v %v", ep.repo.Name(), ep.insecure, ep.mirror))
	}
	want := []string{"127.0.0.1:5000/library/busybox true true", "mirror.example/library/busybox false true", "plain.example:5000/library/busybox true true", "registry-1.docker.io/library/busybox false false"}
	if !slices.Equal(got, want) {
		t.Errorf("endpoints = %q", got)
	}
	for host, want := range map[string]bool{"10.1.2.3:5000": true, "reg.local:443": true, "reg.local": true, "11.0.0.1": false, "other:5000": false} {
		named, _ := image.ParseRef(host + "/x")
		eps, _ := p.endpoints(named)
		if len(eps) != 1 || eps[0].insecure != want || eps[0].mirror {
			t.Errorf("%s: %+v", host, eps)
		}
	}
}

func platformImage(t testing.TB, os, arch, variant string) v1.Image {
	img, _ := random.Image(256, 1)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = os, arch, variant
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPullIndex(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	var adds []mutate.IndexAddendum
	for _, pl := range [][3]string{{"linux", "amd64", ""}, {"linux", "arm64", "v8"}, {"linux", "arm", "v6"}, {"linux", "arm", "v7"}} {
		adds = append(adds, mutate.IndexAddendum{Add: platformImage(t, pl[0], pl[1], pl[2]), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: pl[0], Architecture: pl[1], Variant: pl[2]}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	pushIndex(t, reg+"/library/multi:latest", idx)
	id := manifestDigest(t, idx)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	for _, tc := range []struct {
		platform *ocispec.Platform
		arch     string
	}{
		{nil, DefaultPlatform().Architecture + "/"},
		{&ocispec.Platform{OS: "linux", Architecture: "arm64"}, "arm64/v8"},
		{&ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "arm/v6"},
		{&ocispec.Platform{OS: "linux", Architecture: "arm"}, "arm/v7"},
	} {
		got, err := p.Pull(ctx, "multi", tc.platform, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a := got.Config.Architecture + "/" + got.Config.Variant; a != tc.arch {
			t.Errorf("%v: pulled %s", tc.platform, a)
		}
		if !slices.Equal(got.RepoDigests, []string{"multi@" + id}) {
			t.Errorf("RepoDigests = %v", got.RepoDigests)
		}
		if !e.cs.Exists(ctx, digest.Digest(id)) || !e.cs.Exists(ctx, digest.Digest(got.ManifestDigest)) || got.ManifestDigest == id {
			t.Error("index or manifest not stored")
		}
	}
	_, err := p.Pull(ctx, "multi", &ocispec.Platform{OS: "linux", Architecture: "s390x"}, nil)
	if !errdefs.IsNotFound(err) || err.Error() != "no matching manifest for linux/s390x in the manifest list entries" {
		t.Errorf("s390x: %v", err)
	}
	// A single-platform image is checked against an explicit platform.
	push(t, reg+"/library/single:latest", platformImage(t, "linux", "amd64", ""))
	if _, err := p.Pull(ctx, "single", &ocispec.Platform{OS: "linux", Architecture: "arm64"}, nil); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "does not match the specified platform: wanted linux/arm64, actual: linux/amd64") {
		t.Errorf("platform mismatch: %v", err)
	}
}

func TestSharedBaseLayer(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	base := layer(t, tarEntry{name: "base", body: "base"})
	a := imageOf(t, base, layer(t, tarEntry{name: "a", body: "a"}))
	b := imageOf(t, base, layer(t, tarEntry{name: "b", body: "b"}))
	push(t, reg+"/library/a:latest", a)
	push(t, reg+"/library/b:latest", b)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	if _, err := p.Pull(ctx, "a", nil, nil); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	img, err := p.Pull(ctx, "b", nil, rec.add)
	if err != nil {
		t.Fatal(err)
	}
	bd, _ := base.Digest()
	if seq := rec.byLayer()[bd.Hex[:12]]; !slices.Equal(seq, []string{"Already exists"}) {
		t.Errorf("base layer: %q", seq)
	}
	if c, _ := e.snapshots(t); len(c) != 3 {
		t.Errorf("committed snapshots %v, want 3", c)
	}
	if img.Size == 0 {
		t.Error("size of a shared layer lost")
	}
	imgs, _ := e.store.List(ctx)
	if len(imgs) != 2 {
		t.Errorf("%d images", len(imgs))
	}
	root := e.mountImage(t, img)
	if b, _ := os.ReadFile(filepath.Join(root, "base")); string(b) != "base" {
		t.Error("shared base missing from b")
	}
	if _, err := os.Stat(filepath.Join(root, "a")); err == nil {
		t.Error("a's layer visible in b")
	}
}

func TestConcurrentPull(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	img, _ := random.Image(256<<10, 4)
	push(t, reg+"/library/busybox:latest", img)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	ids := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A second puller shares nothing in memory with the first.
			pp := p
			if i%2 == 1 {
				pp = NewPuller(e.store, e.cs, e.sn, p.opts)
			}
			got, err := pp.Pull(ctx, "busybox", nil, nil)
			errs[i] = err
			if err == nil {
				ids[i] = got.ID
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || ids[i] != configDigest(t, img) {
			t.Fatalf("pull %d: %v %s", i, err, ids[i])
		}
	}
	if c, a := e.snapshots(t); len(c) != 4 || len(a) != 0 {
		t.Errorf("snapshots: committed %v active %v", c, a)
	}
}

func TestBadLayers(t *testing.T) {
	requireRoot(t)
	good := layer(t, tarEntry{name: "f", body: "good"})
	img := imageOf(t, good)
	// The config claims another DiffID for the layer.
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	badDiff, _ := mutate.ConfigFile(img, cf)
	gd, _ := good.Digest()
	for _, tc := range []struct {
		name string
		img  v1.Image
		mw   func(http.Handler) http.Handler
		want string
	}{
		{"diffid mismatch", badDiff, nil, "DiffID mismatch"},
		{"corrupt blob", img, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/blobs/"+gd.String()) && r.Method == http.MethodGet {
					rw := &corrupting{ResponseWriter: w}
					h.ServeHTTP(rw, r)
					return
				}
				h.ServeHTTP(w, r)
			})
		}, "digest mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t, tc.mw)
			push(t, reg+"/library/bad:latest", tc.img)
			e := newEnv(t)
			p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
			_, err := p.Pull(ctx, "bad", nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if c, a := e.snapshots(t); len(c) != 0 || len(a) != 0 {
				t.Errorf("snapshots left: %v %v", c, a)
			}
			if imgs, _ := e.store.List(ctx); len(imgs) != 0 {
				t.Errorf("image recorded")
			}
			if tc.name == "corrupt blob" && e.cs.Exists(ctx, digest.Digest(gd.String())) {
				t.Error("corrupt blob stored")
			}
		})
	}
}

// corrupting flips one byte of the body it writes.
type corrupting struct {
	http.ResponseWriter
	done bool
}

func (c *corrupting) Write(p []byte) (int, error) {
	if !c.done && len(p) > 20 {
		q := append([]byte(nil), p...)
		q[len(q)-10] ^= 0xff
		c.done = true
		return c.ResponseWriter.Write(q)
	}
	return c.ResponseWriter.Write(p)
}

func TestRecoversFromLeftovers(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	l1 := layer(t, tarEntry{name: "one", body: "1"})
	l2 := layer(t, tarEntry{name: "two", body: "2"})
	img := imageOf(t, l1, l2)
	push(t, reg+"/library/busybox:latest", img)
	root := t.TempDir()
	// What a killed pull leaves: a partial ingest of layer 2 with garbage, a corrupt
	// temp write, and a half-unpacked layer-2 snapshot.
	e := openEnv(t, root)
	cf, _ := img.ConfigFile()
	chains := image.ChainIDs([]digest.Digest{digest.Digest(cf.RootFS.DiffIDs[0].String()), digest.Digest(cf.RootFS.DiffIDs[1].String())})
	d2, _ := l2.Digest()
	os.WriteFile(filepath.Join(root, "content", "ingest", d2.Hex), []byte("partial garbage"), 0o600)
	os.WriteFile(filepath.Join(root, "content", "ingest", "tmp-1234"), []byte("corrupt"), 0o600)
	m, err := e.sn.Prepare(ctx, "extract-"+chains[0], "", snapshotTemp())
	if err != nil {
		t.Fatal(err)
	}
	writeJunk(t, m)
	e.db.Close()

	e = openEnv(t, root)
	defer e.db.Close()
	if entries, _ := os.ReadDir(filepath.Join(root, "content", "ingest")); len(entries) != 0 {
		t.Errorf("ingest not cleaned: %v", entries)
	}
	if _, a := e.snapshots(t); len(a) != 0 {
		t.Errorf("temporary snapshot survived: %v", a)
	}
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	got, err := p.Pull(ctx, "busybox", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := e.mountImage(t, got)
	for n, want := range map[string]string{"one": "1", "two": "2", "junk": ""} {
		b, err := os.ReadFile(filepath.Join(rootfs, n))
		if (want == "" && err == nil) || (want != "" && string(b) != want) {
			t.Errorf("%s = %q, %v", n, b, err)
		}
	}
	verifyBlobs(t, root)
}

func TestErrorsAreClassified(t *testing.T) {
	named, _ := image.ParseRef("busybox")
	if err := pullError(named, []error{errors.New("dial tcp: connection refused")}); err.Error() != "dial tcp: connection refused" || errdefs.IsNotFound(err) {
		t.Errorf("unreachable: %v", err)
	}
}

func snapshotTemp() snapshot.Opt {
	return snapshot.WithLabels(map[string]string{snapshot.LabelTemporary: "1"})
}

func writeJunk(t *testing.T, m []snapshot.Mount) {
	dir, err := snapshot.WritableDir(m)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("half"), 0o644)
}

// verifyBlobs checks that every stored blob hashes to its name.
func verifyBlobs(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "content", "blobs", "sha256")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		d, err := digest.FromReader(f)
		f.Close()
		if err != nil || d.Encoded() != e.Name() {
			t.Errorf("corrupt blob %s", e.Name())
		}
	}
}

func TestProgressWireFormat(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, nil)
	img := imageOf(t, layer(t, tarEntry{name: "f", body: "x"}))
	push(t, reg+"/library/busybox:latest", img)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	var rec recorder
	if _, err := p.Pull(ctx, "busybox", nil, rec.add); err != nil {
		t.Fatal(err)
	}
	l, _ := img.Layers()
	d, _ := l[0].Digest()
	id := d.Hex[:12]
	var lines []string
	for _, m := range rec.msgs {
		b, _ := json.Marshal(m)
		lines = append(lines, string(b))
	}
	for _, want := range []string{
		`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Pulling fs layer","progressDetail":{},"id":"` + id + `"}`,
		`{"status":"Verifying Checksum","progressDetail":{},"id":"` + id + `"}`,
		`{"status":"Download complete","progressDetail":{},"id":"` + id + `"}`,
		`{"status":"Pull complete","progressDetail":{},"id":"` + id + `"}`,
		`{"status":"Digest: ` + manifestDigest(t, img) + `"}`,
		`{"status":"Status: Downloaded newer image for busybox:latest"}`,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("missing %s in\n%s", want, strings.Join(lines, "\n"))
		}
	}
	size, _ := l[0].Size()
	for _, prefix := range []string{`{"status":"Downloading","progressDetail":{"current":`, `{"status":"Extracting","progressDetail":{"current":`} {
		if !slices.ContainsFunc(lines, func(s string) bool {
			return strings.HasPrefix(s, prefix) && strings.Contains(s, fmt.Sprintf(`"total":%d}`, size))
		}) {
			t.Errorf("no %s…total %d", prefix, size)
		}
	}
}
