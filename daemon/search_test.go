package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/distribution"
	"github.com/berth-dev/berth/errdefs"
)

func TestSearchFilters(t *testing.T) {
	body, err := os.ReadFile("../distribution/testdata/hub-search-busybox.json")
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write(body)
	}))
	defer srv.Close()
	d := &Daemon{puller: distribution.NewPuller(nil, nil, nil, distribution.Options{HubSearch: srv.URL})}
	names := func(f map[string][]string) []string {
		t.Helper()
		res, err := d.Search(context.Background(), SearchOptions{Term: "busybox", Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, r := range res {
			if r.IsAutomated {
				t.Errorf("%s: is_automated must be false", r.Name)
			}
			out = append(out, r.Name)
		}
		return out
	}
	for _, tc := range []struct {
		f    map[string][]string
		want int
	}{
		{nil, 7},
		{map[string][]string{"is-official": {"true"}}, 1},
		{map[string][]string{"is-official": {"false"}}, 6},
		{map[string][]string{"stars": {"10"}}, 3},
		{map[string][]string{"stars": {"3", "10"}, "is-official": {"0"}}, 2},
		{map[string][]string{"is-automated": {"false"}}, 7},
		{map[string][]string{"is-automated": {"true"}}, 0},
	} {
		if got := names(tc.f); len(got) != tc.want {
			t.Errorf("filters %v: %q, want %d results", tc.f, got, tc.want)
		}
	}
	if got := names(map[string][]string{"is-official": {"1"}}); len(got) != 1 || got[0] != "busybox" {
		t.Errorf("official: %q", got)
	}
	before := hits
	for f, want := range map[string]string{
		`stars=a`:         "invalid filter 'stars=a'",
		`is-official=yes`: "invalid filter 'is-official=[yes]'",
		`label=x`:         "invalid filter 'label'",
	} {
		k, v, _ := strings.Cut(f, "=")
		_, err := d.Search(context.Background(), SearchOptions{Term: "busybox", Filters: map[string][]string{k: {v}}})
		if !errdefs.IsInvalidParameter(err) || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
			t.Errorf("filter %s: %v, want %q", f, err, want)
		}
	}
	if _, err := d.Search(context.Background(), SearchOptions{Term: "busybox", Limit: -1}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("limit -1: %v", err)
	}
	if hits != before {
		t.Error("invalid searches reached the registry")
	}
}
