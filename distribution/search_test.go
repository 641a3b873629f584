package distribution

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// hubServer replays the recorded Docker Hub search response and records queries.
func hubServer(t *testing.T) (*httptest.Server, *[]string) {
	body, err := os.ReadFile("testdata/hub-search-busybox.json")
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		if r.URL.Query().Get("q") == "broken" {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

func TestSearchHub(t *testing.T) {
	srv, queries := hubServer(t)
	p := NewPuller(nil, nil, nil, Options{HubSearch: srv.URL + "/v1/search"})
	res, err := p.Search(ctx, "library/busybox", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 7 || res[0].Name != "busybox" || !res[0].IsOfficial || res[0].StarCount != 3369 || res[0].Description != "Busybox base image." {
		t.Fatalf("results = %+v", res)
	}
	if !res[2].IsAutomated || res[2].Name != "radial/busyboxplus" || res[5].Description != "Busybox base image.\nBuilt for arm64v8." {
		t.Errorf("results = %+v", res)
	}
	if want := []string{"/v1/search?n=25&q=busybox"}; !slices.Equal(*queries, want) {
		t.Errorf("queries = %q, want %q", *queries, want)
	}
	// The limit is sent and enforced even when the server sends more.
	res, err = p.Search(ctx, "busybox", 3)
	if err != nil || len(res) != 3 || (*queries)[1] != "/v1/search?n=3&q=busybox" {
		t.Errorf("limit 3: %d results, %v, queries %q", len(res), err, *queries)
	}
	if _, err := p.Search(ctx, "broken", 0); err == nil || !strings.Contains(err.Error(), "unexpected status code 503") {
		t.Errorf("hub error: %v", err)
	}
	for _, tc := range []struct {
		term  string
		limit int
		want  string
	}{
		{"busybox", 101, "limit 101 is outside the range of [1, 100]"},
		{"busybox", -1, "limit -1 is outside the range of [1, 100]"},
		{"https://busybox", 0, "invalid repository name: repository name (https://busybox) should not have a scheme"},
		{"", 0, "search term must not be empty"},
	} {
		n := len(*queries)
		if _, err := p.Search(ctx, tc.term, tc.limit); !errdefs.IsInvalidParameter(err) || err.Error() != tc.want {
			t.Errorf("Search(%q, %d) = %v, want %q", tc.term, tc.limit, err, tc.want)
		}
		if len(*queries) != n {
			t.Errorf("Search(%q, %d) asked the hub", tc.term, tc.limit)
		}
	}
}

func TestSearchNoHub(t *testing.T) {
	srv, queries := hubServer(t)
	p := NewPuller(nil, nil, nil, Options{HubSearch: srv.URL, NoHub: true, Mirrors: []string{"http://127.0.0.1:1"}})
	_, err := p.Search(ctx, "busybox", 0)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "--no-docker-hub") {
		t.Errorf("err = %v", err)
	}
	if len(*queries) != 0 {
		t.Errorf("Docker Hub was contacted: %q", *queries)
	}
}

func TestSplitSearchTerm(t *testing.T) {
	for term, want := range map[string][2]string{
		"busybox":                    {"docker.io", "busybox"},
		"user/app":                   {"docker.io", "user/app"},
		"127.0.0.1:5000/busybox":     {"127.0.0.1:5000", "busybox"},
		"localhost/x":                {"localhost", "x"},
		"quay.io/team/app":           {"quay.io", "team/app"},
		"registry.example.com:5000/": {"registry.example.com:5000", ""},
	} {
		if h, r := SplitSearchTerm(term); h != want[0] || r != want[1] {
			t.Errorf("SplitSearchTerm(%q) = %q, %q", term, h, r)
		}
	}
}

func TestSearchCatalog(t *testing.T) {
	reg := newRegistry(t, nil)
	for _, repo := range []string{"library/busybox", "team/busybox-tools", "team/app", "busybox"} {
		img, _ := random.Image(64, 1)
		push(t, reg+"/"+repo+":latest", img)
	}
	p := NewPuller(nil, nil, nil, Options{NoHub: true})
	names := func(term string, limit int) []string {
		t.Helper()
		res, err := p.Search(ctx, term, limit)
		if err != nil {
			t.Fatalf("Search(%q): %v", term, err)
		}
		var out []string
		for _, r := range res {
			if r.IsOfficial || r.StarCount != 0 {
				t.Errorf("catalog result %+v", r)
			}
			out = append(out, r.Name)
		}
		return out
	}
	if got, want := names(reg+"/busybox", 0), []string{reg + "/busybox", reg + "/library/busybox", reg + "/team/busybox-tools"}; !slices.Equal(got, want) {
		t.Errorf("busybox: %q, want %q", got, want)
	}
	if got := names(reg+"/BusyBox", 1); !slices.Equal(got, []string{reg + "/busybox"}) {
		t.Errorf("limit 1: %q", got)
	}
	if got := names(reg+"/", 0); len(got) != 4 {
		t.Errorf("all: %q", got)
	}
	if got := names(reg+"/nothing", 0); len(got) != 0 {
		t.Errorf("nothing: %q", got)
	}
	// Through a mirror configured for the registry: the origin is never asked.
	p = NewPuller(nil, nil, nil, Options{MirrorsByHost: map[string][]string{"example.invalid:5000": {"http://" + reg}}})
	if got := names("example.invalid:5000/app", 0); !slices.Equal(got, []string{"example.invalid:5000/team/app"}) {
		t.Errorf("mirror: %q", got)
	}
}

func TestSearchCatalogPagesAndErrors(t *testing.T) {
	var other *httptest.Server
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.URL.Query().Get("last") == "":
			w.Header().Set("Link", `</v2/_catalog?last=a%2Fone&n=2>; rel="next"`)
			fmt.Fprint(w, `{"repositories":["a/one","a/two"]}`)
		case r.URL.Query().Get("last") == "a/one":
			w.Header().Set("Link", fmt.Sprintf(`<%s/v2/_catalog?last=evil>; rel="next"`, other.URL))
			fmt.Fprint(w, `{"repositories":["b/one"]}`)
		default:
			t.Errorf("unexpected request %s", r.URL)
		}
	}))
	defer srv.Close()
	var otherHits atomic.Int32
	other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		fmt.Fprint(w, `{"repositories":["evil/one"]}`)
	}))
	defer other.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	p := NewPuller(nil, nil, nil, Options{Insecure: []string{host}})
	res, err := p.Search(ctx, host+"/one", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Name != host+"/a/one" || res[1].Name != host+"/b/one" {
		t.Errorf("results = %+v", res)
	}
	if otherHits.Load() != 0 {
		t.Error("followed a pagination link to another host")
	}

	denied := newRegistry(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.WriteHeader(http.StatusForbidden)
		})
	})
	if _, err := p.Search(ctx, denied+"/x", 0); err == nil || !strings.Contains(err.Error(), "refused to list its repositories (403)") {
		t.Errorf("denied: %v", err)
	}
	if _, err := p.Search(ctx, "127.0.0.1:1/x", 0); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable: %v", err)
	}
}
