package distribution

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// basicAuth guards h with HTTP Basic auth for user:pass, answering 401 like a registry.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestPushMountSkipAndUpload(t *testing.T) {
	requireRoot(t)
	// ggcr's registry shares blobs between repositories: hide them from dst/ so that
	// the push has to ask to mount them.
	var mounts atomic.Int32
	reg := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v2/dst/") && r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/") {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			// ggcr's registry ignores mount requests; answer them as distribution does.
			if q := r.URL.Query(); r.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") == "src/app" {
				mounts.Add(1)
				w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "uploads/")+q.Get("mount"))
				w.WriteHeader(http.StatusCreated)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	other := newRegistry(t, nil)
	img := imageOf(t, layer(t, tarEntry{name: "a", body: "one"}), layer(t, tarEntry{name: "b", body: "two"}))
	push(t, reg+"/src/app:v1", img)
	md := manifestDigest(t, img)

	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{NoHub: true})
	got, err := p.Pull(ctx, reg+"/src/app:v1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{got.Config.RootFS.DiffIDs[0].Encoded()[:12], got.Config.RootFS.DiffIDs[1].Encoded()[:12]}
	check := func(rec *recorder, want string, tag string) {
		t.Helper()
		st := rec.statuses()
		if len(st) == 0 || !strings.HasPrefix(st[0], "The push refers to repository [") {
			t.Fatalf("statuses = %q", st)
		}
		for _, id := range ids {
			seq := slices.DeleteFunc(rec.byLayer()[id], func(s string) bool { return s == "Pushing" })
			if !slices.Equal(seq, []string{"Preparing", want}) {
				t.Errorf("layer %s: %q, want Preparing, %s", id, seq, want)
			}
		}
		if last := st[len(st)-2]; !strings.HasPrefix(last, tag+": digest: "+md+" size: ") {
			t.Errorf("last status = %q", last)
		}
		rec.mu.Lock()
		aux := rec.msgs[len(rec.msgs)-1].Aux
		rec.mu.Unlock()
		if aux == nil || !strings.Contains(string(*aux), `"Tag":"`+tag+`","Digest":"`+md+`"`) {
			t.Errorf("aux = %v", aux)
		}
	}

	// Into another repository of the same registry: the layers are mounted.
	dst, _ := name.NewTag(reg + "/dst/app:v2")
	if err := e.store.Tag(ctx, got.ID, mustNamed(t, dst.String())); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := p.Push(ctx, reg+"/dst/app", "v2", rec.add); err != nil {
		t.Fatal(err)
	}
	check(&rec, "Mounted from src/app", "v2")
	if n := mounts.Load(); n != 3 { // two layers and the config
		t.Errorf("%d mount requests, want 3", n)
	}
	if d, err := remote.Head(dst); err != nil || d.Digest.String() != md {
		t.Fatalf("pushed manifest: %v, %v", d, err)
	}

	// To another registry: uploaded, then found on a second push.
	if err := e.store.Tag(ctx, got.ID, mustNamed(t, other+"/x/app:latest")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Pushed", "Layer already exists"} {
		rec = recorder{}
		if err := p.Push(ctx, other+"/x/app", "", rec.add); err != nil {
			t.Fatal(err)
		}
		check(&rec, want, "latest")
	}
	back, err := remote.Image(mustRef(t, other+"/x/app:latest"))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := back.Digest(); h.String() != md {
		t.Errorf("pulled back %s, want %s", h, md)
	}

	// A name without a local image.
	err = p.Push(ctx, other+"/x/none", "latest", rec.add)
	if !errdefs.IsNotFound(err) || err.Error() != "An image does not exist locally with the tag: "+other+"/x/none" {
		t.Errorf("push of a missing image: %v", err)
	}
}

func TestPushAndLoginWithBasicAuth(t *testing.T) {
	requireRoot(t)
	src := newRegistry(t, nil)
	reg := newRegistry(t, basicAuth("alice", "s3cret"))
	img := imageOf(t, layer(t, tarEntry{name: "a", body: "x"}))
	push(t, src+"/lib/img:latest", img)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{NoHub: true})
	got, err := p.Pull(ctx, src+"/lib/img", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Tag(ctx, got.ID, mustNamed(t, reg+"/me/img:latest")); err != nil {
		t.Fatal(err)
	}

	if err := p.Login(ctx, reg, authn.AuthConfig{Username: "alice", Password: "wrong"}); !errors.Is(err, ErrUnauthorized) ||
		err.Error() != "login attempt to http://"+reg+"/v2/ failed with status: 401 Unauthorized" {
		t.Errorf("login with a wrong password: %v", err)
	}
	if err := p.Login(ctx, "http://"+reg, authn.AuthConfig{Username: "alice", Password: "s3cret"}); err != nil {
		t.Errorf("login: %v", err)
	}

	if err := p.Push(ctx, reg+"/me/img", "latest", nil); !errors.Is(err, ErrUnauthorized) || err.Error() != "no basic auth credentials" {
		t.Errorf("anonymous push: %v", err)
	}
	bad := WithAuth(ctx, &authn.Basic{Username: "alice", Password: "nope"})
	if err := p.Push(bad, reg+"/me/img", "latest", nil); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("push with a wrong password: %v", err)
	}
	good := WithAuth(ctx, &authn.Basic{Username: "alice", Password: "s3cret"})
	if err := p.Push(good, reg+"/me/img", "latest", nil); err != nil {
		t.Fatal(err)
	}
	// Pulling it back needs the credentials too.
	e2 := newEnv(t)
	p2 := NewPuller(e2.store, e2.cs, e2.sn, Options{NoHub: true})
	if _, err := p2.Pull(ctx, reg+"/me/img", nil, nil); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "may require 'docker login'") {
		t.Errorf("anonymous pull: %v", err)
	}
	if back, err := p2.Pull(good, reg+"/me/img", nil, nil); err != nil || back.ID != got.ID {
		t.Errorf("pull with credentials: %v", err)
	}
}

func TestLoginRegistry(t *testing.T) {
	p := NewPuller(nil, nil, nil, Options{Insecure: []string{"10.0.0.0/8"}})
	for in, want := range map[string]string{
		"":                            "registry-1.docker.io",
		"https://index.docker.io/v1/": "registry-1.docker.io",
		"docker.io":                   "registry-1.docker.io",
		"127.0.0.1:5001":              "http://127.0.0.1:5001",
		"http://r.example:80/":        "http://r.example:80",
		"10.1.2.3:5000":               "http://10.1.2.3:5000",
		"r.example":                   "https://r.example",
	} {
		reg, err := p.loginRegistry(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		got := reg.Scheme() + "://" + reg.RegistryStr()
		if !strings.Contains(want, "://") {
			got = reg.RegistryStr()
		}
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
	noHub := NewPuller(nil, nil, nil, Options{NoHub: true})
	if _, err := noHub.loginRegistry("docker.io"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Docker Hub login without a hub: %v", err)
	}
}

func mustNamed(t testing.TB, ref string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		t.Fatal(err)
	}
	return reference.TagNameOnly(n)
}

func mustRef(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tokenAuth guards h with registry token auth: /token trades user:pass for a token
// that every /v2/ request must carry.
func tokenAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
					w.WriteHeader(http.StatusUnauthorized)
					w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}`))
					return
				}
				w.Write([]byte(`{"token":"tok-` + user + `"}`))
				return
			}
			if r.Header.Get("Authorization") != "Bearer tok-"+user {
				w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestPushAndLoginWithToken(t *testing.T) {
	requireRoot(t)
	src := newRegistry(t, nil)
	reg := newRegistry(t, tokenAuth("bob", "pw"))
	var layers []v1.Layer
	for i := range 7 {
		layers = append(layers, layer(t, tarEntry{name: fmt.Sprint("f", i), body: fmt.Sprint(i)}))
	}
	push(t, src+"/lib/img:latest", imageOf(t, layers...))
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{NoHub: true})
	got, err := p.Pull(ctx, src+"/lib/img", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Tag(ctx, got.ID, mustNamed(t, reg+"/bob/img:latest")); err != nil {
		t.Fatal(err)
	}
	if err := p.Login(ctx, reg, authn.AuthConfig{Username: "bob", Password: "bad"}); !errors.Is(err, ErrUnauthorized) ||
		err.Error() != `Get "http://`+reg+`/v2/": unauthorized: incorrect username or password` {
		t.Errorf("login with a wrong password: %v", err)
	}
	if err := p.Login(ctx, reg, authn.AuthConfig{Username: "bob", Password: "pw"}); err != nil {
		t.Errorf("login: %v", err)
	}
	var rec recorder
	if err := p.Push(WithAuth(ctx, &authn.Basic{Username: "bob", Password: "pw"}), reg+"/bob/img", "latest", rec.add); err != nil {
		t.Fatal(err)
	}
	// Seven layers, five at a time: the two lowest wait.
	by := rec.byLayer()
	for i, d := range got.Config.RootFS.DiffIDs {
		seq := slices.DeleteFunc(by[d.Encoded()[:12]], func(s string) bool { return s == "Pushing" })
		want := []string{"Preparing", "Pushed"}
		if i < 2 {
			want = []string{"Preparing", "Waiting", "Pushed"}
		}
		if !slices.Equal(seq, want) {
			t.Errorf("layer %d: %q, want %q", i, seq, want)
		}
	}
}
