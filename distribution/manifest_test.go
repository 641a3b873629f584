package distribution

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
)

// craftedRegistry serves one manifest (and index) under library/evil:latest exactly as
// given, and counts blob requests.
type craftedRegistry struct {
	host      string
	blobHits  atomic.Int32
	manifests map[string]craftedManifest // by tag or digest
}

type craftedManifest struct {
	mediaType string
	body      []byte
	header    http.Header
}

func newCraftedRegistry(t *testing.T) *craftedRegistry {
	c := &craftedRegistry{manifests: map[string]craftedManifest{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
		case strings.HasPrefix(r.URL.Path, "/v2/library/evil/manifests/"):
			m, ok := c.manifests[strings.TrimPrefix(r.URL.Path, "/v2/library/evil/manifests/")]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
				return
			}
			for k, v := range m.header {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", m.mediaType)
			w.Write(m.body)
		case strings.Contains(r.URL.Path, "/blobs/"):
			c.blobHits.Add(1)
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	c.host = strings.TrimPrefix(srv.URL, "http://")
	return c
}

func (c *craftedRegistry) serve(ref string, mt types.MediaType, v any) digest.Digest {
	body, ok := v.([]byte)
	if !ok {
		body, _ = json.Marshal(v)
	}
	d := digest.FromBytes(body)
	c.manifests[ref] = craftedManifest{mediaType: string(mt), body: body}
	c.manifests[d.String()] = c.manifests[ref]
	return d
}

type desc struct {
	MediaType types.MediaType `json:"mediaType"`
	Digest    string          `json:"digest"`
	Size      int64           `json:"size"`
	URLs      []string        `json:"urls,omitempty"`
	Platform  map[string]any  `json:"platform,omitempty"`
}

type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType,omitempty"`
	Config        desc              `json:"config"`
	Layers        []desc            `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func someDigest(s string) string { return digest.FromString(s).String() }

func goodManifest() manifestDoc {
	return manifestDoc{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: desc{MediaType: types.OCIConfigJSON, Digest: someDigest("config"), Size: 100},
		Layers: []desc{{MediaType: types.OCILayer, Digest: someDigest("layer"), Size: 1000}},
	}
}

func TestRefusesBadManifests(t *testing.T) {
	requireRoot(t)
	big := goodManifest()
	big.Annotations = map[string]string{"padding": strings.Repeat("x", 4<<20)}
	for _, tc := range []struct {
		name   string
		mutate func(*manifestDoc)
		raw    any // served instead of the manifest when set
		mt     types.MediaType
		want   string
	}{
		{name: "petabyte layer", mutate: func(m *manifestDoc) { m.Layers[0].Size = 1 << 50 }, want: "claims a size of 1125899906842624 bytes (1PiB); the limit is 1TiB"},
		{name: "negative size", mutate: func(m *manifestDoc) { m.Layers[0].Size = -1 }, want: "claims a size of -1 bytes"},
		{name: "huge config", mutate: func(m *manifestDoc) { m.Config.Size = 1 << 30 }, want: "image config claims a size of 1073741824 bytes"},
		{name: "unknown layer type", mutate: func(m *manifestDoc) { m.Layers[0].MediaType = "application/vnd.example.evil+tar" }, want: `unsupported layer media type "application/vnd.example.evil+tar"`},
		{name: "not an image", mutate: func(m *manifestDoc) { m.Config.MediaType = "application/vnd.cncf.helm.config.v1+json" }, want: `unsupported image config media type "application/vnd.cncf.helm.config.v1+json"`},
		{name: "file url", mutate: func(m *manifestDoc) { m.Layers[0].URLs = []string{"file:///etc/shadow"} }, want: `forbidden URL "file:///etc/shadow"`},
		{name: "traversal url", mutate: func(m *manifestDoc) { m.Layers[0].URLs = []string{"https://cdn.example/../../etc/passwd"} }, want: "forbidden URL"},
		{name: "relative url", mutate: func(m *manifestDoc) { m.Layers[0].URLs = []string{"../../../etc/passwd"} }, want: "forbidden URL"},
		{name: "bad digest", raw: strings.Replace(mustJSON(goodManifest()), someDigest("layer"), "sha256:../../../etc/passwd", 1), want: "invalid manifest"},
		{name: "too large", raw: mustJSON(big), want: "is too large (more than 4 MiB): the limit is 4 MiB"},
		{name: "media type mismatch", raw: mustJSON(goodManifest()), mt: types.DockerManifestSchema2, want: "manifest media type mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newCraftedRegistry(t)
			var v any
			if tc.raw != nil {
				v = []byte(tc.raw.(string))
			} else {
				m := goodManifest()
				tc.mutate(&m)
				v = m
			}
			mt := tc.mt
			if mt == "" {
				mt = types.OCIManifestSchema1
			}
			reg.serve("latest", mt, v)
			e := newEnv(t)
			p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg.host}, NoHub: true})
			_, err := p.Pull(ctx, "evil", nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.IsInvalidParameter(err) {
				t.Fatalf("err = %v, want %q (invalid parameter)", err, tc.want)
			}
			if n := reg.blobHits.Load(); n != 0 {
				t.Errorf("%d blobs requested before the manifest was refused", n)
			}
			if imgs, _ := e.store.List(ctx); len(imgs) != 0 {
				t.Error("image recorded")
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestRefusesManifestDigestMismatch(t *testing.T) {
	requireRoot(t)
	reg := newCraftedRegistry(t)
	real := reg.serve("latest", types.OCIManifestSchema1, goodManifest())
	// A tag whose announced digest is not that of the content.
	m := reg.manifests["latest"]
	m.header = http.Header{"Docker-Content-Digest": {someDigest("other")}}
	reg.manifests["latest"] = m
	// A digest that serves other content.
	reg.manifests[someDigest("pinned")] = reg.manifests[real.String()]
	// An index whose entry's size lies.
	idx := map[string]any{"schemaVersion": 2, "mediaType": types.OCIImageIndex, "manifests": []desc{{
		MediaType: types.OCIManifestSchema1, Digest: real.String(), Size: 5,
		Platform: map[string]any{"os": "linux", "architecture": DefaultPlatform().Architecture},
	}}}
	reg.serve("index", types.OCIImageIndex, idx)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg.host}, NoHub: true})
	for ref, want := range map[string]string{
		"evil:latest":                  "the registry announced " + someDigest("other"),
		"evil@" + someDigest("pinned"): "digest mismatch: the registry sent content with digest " + real.String(),
		"evil:index":                   "size mismatch: the index says 5 bytes",
	} {
		if _, err := p.Pull(ctx, ref, nil, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Pull(%s) = %v, want %q", ref, err, want)
		}
	}
	if n := reg.blobHits.Load(); n != 0 {
		t.Errorf("%d blobs requested", n)
	}
}

func TestManifestMediaType(t *testing.T) {
	for _, tc := range []struct {
		header, body string
		want         types.MediaType
	}{
		{"application/vnd.oci.image.manifest.v1+json", `{"schemaVersion":2,"config":{}}`, types.OCIManifestSchema1},
		{"application/json; charset=utf-8", `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}`, types.DockerManifestSchema2},
		{"", `{"schemaVersion":2,"manifests":[]}`, types.OCIImageIndex},
		{"text/plain", `{"schemaVersion":2,"config":{}}`, types.OCIManifestSchema1},
		{"", `{"schemaVersion":1}`, types.DockerManifestSchema1},
	} {
		got, err := manifestMediaType(tc.header, []byte(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("manifestMediaType(%q, %s) = %q, %v; want %q", tc.header, tc.body, got, err, tc.want)
		}
	}
	if _, err := manifestMediaType("", []byte("not json")); !errdefs.IsInvalidParameter(err) {
		t.Errorf("garbage: %v", err)
	}
	if !slices.Contains(strings.Split(manifestAccept, ", "), string(types.OCIImageIndex)) {
		t.Error("Accept lacks the OCI index")
	}
}

func TestWrongBlob(t *testing.T) {
	requireRoot(t)
	img := imageOf(t, layer(t, tarEntry{name: "f", body: "right"}))
	cfgName, _ := img.ConfigName()
	rawCfg, _ := img.RawConfigFile()
	// Same size, other bytes: only the digest can tell.
	impostor := append([]byte(nil), rawCfg...)
	impostor[len(impostor)-2] = ' '
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+cfgName.String()) {
				w.Write(impostor)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	push(t, reg+"/library/wrong:latest", img)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{Mirrors: []string{"http://" + reg}, NoHub: true})
	_, err := p.Pull(ctx, "wrong", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "fetch image config: content "+cfgName.String()+": digest mismatch: got "+digest.FromBytes(impostor).String()) {
		t.Fatalf("err = %v", err)
	}
	if imgs, _ := e.store.List(ctx); len(imgs) != 0 {
		t.Error("image recorded")
	}
	if e.cs.Exists(ctx, digest.Digest(cfgName.String())) {
		t.Error("wrong blob stored under the config digest")
	}
	if c, a := e.snapshots(t); len(c)+len(a) != 0 {
		t.Errorf("snapshots left: %v %v", c, a)
	}
}
