package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type testImage struct {
	layer, config, manifest []byte
	ld, cd, md              digest.Digest
}

// newTestImage makes a one-layer image (uncompressed layer) with an OCI manifest.
func newTestImage(t *testing.T, body string) testImage {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	ti := testImage{layer: buf.Bytes()}
	ti.ld = digest.FromBytes(ti.layer)
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{ti.ld}}}
	ti.config, _ = json.Marshal(cfg)
	ti.cd = digest.FromBytes(ti.config)
	m := manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: ti.cd, Size: int64(len(ti.config))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: ti.ld, Size: int64(len(ti.layer))}}}
	ti.manifest, _ = json.Marshal(m)
	ti.md = digest.FromBytes(ti.manifest)
	return ti
}

func (ti testImage) store(t *testing.T, cs *content.Store) {
	t.Helper()
	for _, b := range [][]byte{ti.layer, ti.config, ti.manifest} {
		if err := content.Ingest(context.Background(), cs, digest.FromBytes(b), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func newStore(t *testing.T) *content.Store {
	cs, err := content.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func blobs(t *testing.T, cs *content.Store) int {
	n := 0
	cs.Walk(context.Background(), func(content.Info) error { n++; return nil })
	return n
}

func tagged(t *testing.T, s string) reference.NamedTagged {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return n.(reference.NamedTagged)
}

func TestWriteRead(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	a, b := newTestImage(t, "a"), newTestImage(t, "b")
	a.store(t, src)
	b.store(t, src)
	plan, err := Prepare(ctx, src, []SaveImage{{Manifest: a.md, Tags: []reference.NamedTagged{tagged(t, "x:1"), tagged(t, "x:2")}}, {Manifest: b.md}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := plan.Write(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	// Each blob once, plus both formats' metadata.
	names := map[string]int{}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[hdr.Name]++
	}
	for _, n := range []string{"manifest.json", "index.json", "oci-layout", "repositories", blobPath(a.ld), blobPath(b.md)} {
		if names[n] != 1 {
			t.Errorf("%s written %d times", n, names[n])
		}
	}

	for _, prefer := range []string{"oci", "docker"} {
		t.Run(prefer, func(t *testing.T) {
			data := buf.Bytes()
			if prefer == "docker" {
				data = without(t, data, "index.json")
			}
			dst := newStore(t)
			res, err := Read(ctx, bytes.NewReader(data), dst)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Images) != 2 {
				t.Fatalf("%d images", len(res.Images))
			}
			got := res.Images[0]
			if got.ConfigDigest != a.cd || len(got.Layers) != 1 || got.Layers[0] != a.ld || len(got.Refs) != 2 ||
				got.Refs[0].String() != "docker.io/library/x:1" || got.Refs[1].String() != "docker.io/library/x:2" {
				t.Fatalf("image: %+v", got)
			}
			if len(res.Images[1].Refs) != 0 || res.Images[1].ConfigDigest != b.cd {
				t.Fatalf("untagged image: %+v", res.Images[1])
			}
			if prefer == "oci" && got.Manifest != a.md {
				t.Fatalf("manifest %s, want the saved %s", got.Manifest, a.md)
			}
			if _, err := dst.Info(ctx, got.Manifest); err != nil {
				t.Fatalf("manifest not stored: %v", err)
			}
			res.Discard(ctx)
			if n := blobs(t, dst); n != 0 {
				t.Fatalf("Discard left %d blobs", n)
			}
		})
	}
}

// without rewrites a tar without the named entry.
func without(t *testing.T, data []byte, name string) []byte {
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if hdr.Name == name {
			continue
		}
		tw.WriteHeader(hdr)
		io.Copy(tw, tr)
	}
	tw.Close()
	return out.Bytes()
}

func TestPrepareMissingBlob(t *testing.T) {
	ctx := context.Background()
	cs := newStore(t)
	a := newTestImage(t, "a")
	a.store(t, cs)
	if err := cs.Delete(ctx, a.ld); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(ctx, cs, []SaveImage{{Manifest: a.md}}); !errdefs.IsNotFound(err) {
		t.Fatalf("Prepare with a missing layer: %v", err)
	}
}

func mkTar(files ...[2]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return buf.Bytes()
}

func TestReadInvalid(t *testing.T) {
	a := newTestImage(t, "a")
	cfg, lay := [2]string{blobPath(a.cd), string(a.config)}, [2]string{blobPath(a.ld), string(a.layer)}
	entry := func(c, l string) [2]string {
		return [2]string{"manifest.json", `[{"Config":"` + c + `","RepoTags":["x:1"],"Layers":["` + l + `"]}]`}
	}
	index := func(m digest.Digest) [2]string {
		return [2]string{"index.json", `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + m.String() + `","size":1}]}`}
	}
	cases := []struct {
		name string
		tar  []byte
		want string
	}{
		{"traversal", mkTar(cfg, lay, entry(blobPath(a.cd), "../"+blobPath(a.ld))), "outside the archive"},
		{"absolute", mkTar(cfg, lay, entry("/"+blobPath(a.cd), blobPath(a.ld))), "outside the archive"},
		{"unsafe entry", mkTar([2]string{"../evil", "x"}), "unsafe path"},
		{"missing layer", mkTar(cfg, entry(blobPath(a.cd), blobPath(a.ld))), "not found in the archive"},
		{"digest mismatch", mkTar(cfg, [2]string{blobPath(a.ld), "other"}, entry(blobPath(a.cd), blobPath(a.ld))), "digest mismatch"},
		{"layer count", mkTar(cfg, lay, [2]string{"manifest.json", `[{"Config":"` + blobPath(a.cd) + `","Layers":[]}]`}), "has 0 layers but its config lists 1"},
		{"bad tag", mkTar(cfg, lay, [2]string{"manifest.json", `[{"Config":"` + blobPath(a.cd) + `","RepoTags":["UPPER:1"],"Layers":["` + blobPath(a.ld) + `"]}]`}), "bad tag"},
		{"oci missing manifest", mkTar(cfg, lay, index(a.md)), "not found in the archive"},
		{"oci missing layer", mkTar(cfg, [2]string{blobPath(a.md), string(a.manifest)}, index(a.md)), "not found in the archive"},
		{"empty", mkTar(), "neither manifest.json nor index.json"},
		{"garbage", []byte(strings.Repeat("x", 1024)), "invalid image archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := newStore(t)
			_, err := Read(context.Background(), bytes.NewReader(c.tar), cs)
			if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want invalid parameter with %q", err, c.want)
			}
			if n := blobs(t, cs); n != 0 {
				t.Fatalf("%d blobs left behind", n)
			}
		})
	}
}

func TestReadLinkedLayer(t *testing.T) {
	a := newTestImage(t, "linked")
	archive := func(layerPath string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "one/layer.tar", Mode: 0o644, Size: int64(len(a.layer)), Typeflag: tar.TypeReg})
		tw.Write(a.layer)
		for _, l := range []struct{ name, target string }{{"two/layer.tar", "../one/layer.tar"}, {"three/layer.tar", "../../etc/passwd"}} {
			tw.WriteHeader(&tar.Header{Name: l.name, Linkname: l.target, Typeflag: tar.TypeSymlink})
		}
		for _, f := range [][2]string{{a.cd.Encoded() + ".json", string(a.config)}, {"manifest.json", `[{"Config":"` + a.cd.Encoded() + `.json","Layers":["` + layerPath + `"]}]`}} {
			tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg})
			tw.Write([]byte(f[1]))
		}
		tw.Close()
		return buf.Bytes()
	}
	res, err := Read(context.Background(), bytes.NewReader(archive("two/layer.tar")), newStore(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Layers[0] != a.ld {
		t.Fatalf("layer %s, want %s", res.Images[0].Layers[0], a.ld)
	}
	_, err = Read(context.Background(), bytes.NewReader(archive("three/layer.tar")), newStore(t))
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "outside the archive") {
		t.Fatalf("a link leaving the archive: %v", err)
	}
}

func TestReadLegacyDockerArchive(t *testing.T) {
	// docker save before 25: <id>/layer.tar and <config hex>.json.
	a := newTestImage(t, "legacy")
	data := mkTar([2]string{"abc/layer.tar", string(a.layer)}, [2]string{a.cd.Encoded() + ".json", string(a.config)},
		[2]string{"abc/VERSION", "1.0"},
		[2]string{"manifest.json", `[{"Config":"` + a.cd.Encoded() + `.json","RepoTags":["legacy:v1"],"Layers":["abc/layer.tar"]}]`},
		[2]string{"repositories", `{}`})
	cs := newStore(t)
	res, err := Read(context.Background(), bytes.NewReader(data), cs)
	if err != nil {
		t.Fatal(err)
	}
	img := res.Images[0]
	if img.ConfigDigest != a.cd || img.Layers[0] != a.ld || img.Refs[0].String() != "docker.io/library/legacy:v1" {
		t.Fatalf("image: %+v", img)
	}
	raw, err := content.ReadBlob(context.Background(), cs, img.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	json.Unmarshal(raw, &m)
	if m.MediaType != mediaTypeDockerManifest || m.Layers[0].MediaType != mediaTypeDockerLayer || m.Layers[0].Digest != a.ld {
		t.Fatalf("written manifest: %s", raw)
	}
	if n := blobs(t, cs); n != 3 {
		t.Fatalf("%d blobs stored, want layer, config and manifest", n)
	}
}
