package distribution

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/image"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestMirrorsByHost(t *testing.T) {
	p := NewPuller(nil, nil, nil, Options{
		Mirrors:       []string{"http://127.0.0.1:5000"},
		MirrorsByHost: map[string][]string{"quay.io": {"http://127.0.0.1:5001", "https://quay-mirror.example"}, "index.docker.io": {"https://hub-mirror.example"}},
	})
	for ref, want := range map[string][]string{
		"quay.io/team/app":      {"127.0.0.1:5001/team/app true true", "quay-mirror.example/team/app false true", "quay.io/team/app false false"},
		"busybox":               {"127.0.0.1:5000/library/busybox true true", "hub-mirror.example/library/busybox false true", "registry-1.docker.io/library/busybox false false"},
		"example.com:5000/team": {"example.com:5000/team false false"},
	} {
		named, _ := image.ParseRef(ref)
		eps, err := p.endpoints(named)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ep := range eps {
			got = append(got, fmt.Sprintf("%s %v %v", ep.repo.Name(), ep.insecure, ep.mirror))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: endpoints = %q, want %q", ref, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Mirrors: []string{"http://127.0.0.1:5000", "https://m.example/"}, MirrorsByHost: map[string][]string{"quay.io": {"http://127.0.0.1:5000"}}, Insecure: []string{"10.0.0.0/8"}}, ""},
		{Options{Mirrors: []string{"ftp://m.example"}}, `invalid registry mirror "ftp://m.example"`},
		{Options{Mirrors: []string{"https://m.example/v2/path"}}, "path, query, fragment or credentials are not supported"},
		{Options{MirrorsByHost: map[string][]string{"https://quay.io": {"http://127.0.0.1:5000"}}}, `invalid registry "https://quay.io" in registry-mirrors-by-host`},
		{Options{MirrorsByHost: map[string][]string{"quay.io": {"http://"}}}, `registry-mirrors-by-host quay.io: invalid registry mirror "http://"`},
		{Options{Insecure: []string{"http://reg:5000"}}, "should not contain '://'"},
	} {
		err := tc.o.Validate()
		if (tc.want == "" && err != nil) || (tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestPullThroughHostMirror(t *testing.T) {
	requireRoot(t)
	mirror := newRegistry(t, nil)
	img, _ := random.Image(512, 2)
	push(t, mirror+"/library/busybox:latest", img)
	e := newEnv(t)
	p := NewPuller(e.store, e.cs, e.sn, Options{MirrorsByHost: map[string][]string{"example.invalid:5000": {"http://" + mirror}}})
	got, err := p.Pull(ctx, "example.invalid:5000/library/busybox", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configDigest(t, img) || !slices.Equal(got.RepoTags, []string{"example.invalid:5000/library/busybox:latest"}) {
		t.Errorf("image %s tags %v", got.ID, got.RepoTags)
	}
	// Another registry's images do not come from that mirror.
	if _, err := p.Pull(ctx, "example.invalid:5001/library/busybox", nil, nil); err == nil {
		t.Error("pulled example.invalid:5001 through the mirror of example.invalid:5000")
	}
}
