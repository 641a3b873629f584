package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

type fakeSearcher struct {
	term string
	opts client.ImageSearchOptions
	res  []registry.SearchResult
}

func (f *fakeSearcher) ImageSearch(_ context.Context, term string, o client.ImageSearchOptions) (client.ImageSearchResult, error) {
	f.term, f.opts = term, o
	return client.ImageSearchResult{Items: f.res}, nil
}

func TestSearchImages(t *testing.T) {
	api := &fakeSearcher{res: []registry.SearchResult{
		{Name: "busybox", Description: "Busybox base image.", StarCount: 3369, IsOfficial: true},
		{Name: "amd64/busybox", Description: "Busybox base image: the Swiss Army Knife of\nEmbedded Linux, ≈ 1 MB", StarCount: 0},
	}}
	var out, errOut bytes.Buffer
	s := Streams{Out: &out, Err: &errOut}
	if err := SearchImages(context.Background(), api, s, SearchOptions{Term: "busybox", Limit: 5, Filters: []string{"is-official=true", "stars=3"}}); err != nil {
		t.Fatal(err)
	}
	want := "NAME            DESCRIPTION                                     STARS     OFFICIAL\n" +
		"busybox         Busybox base image.                             3369      [OK]\n" +
		"amd64/busybox   Busybox base image: the Swiss Army Knife of …   0         \n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	if api.term != "busybox" || api.opts.Limit != 5 || !api.opts.Filters["is-official"]["true"] || !api.opts.Filters["stars"]["3"] {
		t.Errorf("request: %q %+v", api.term, api.opts)
	}
	out.Reset()
	SearchImages(context.Background(), api, s, SearchOptions{Term: "busybox", NoTrunc: true, Format: "{{.Name}}: {{.Description}}"})
	if !strings.Contains(out.String(), "amd64/busybox: Busybox base image: the Swiss Army Knife of Embedded Linux, ≈ 1 MB\n") {
		t.Errorf("no-trunc: %q", out.String())
	}
	out.Reset()
	SearchImages(context.Background(), api, s, SearchOptions{Term: "busybox", Format: "json", Filters: []string{"is-automated=false"}})
	if first := strings.SplitN(out.String(), "\n", 2)[0]; first != `{"Description":"Busybox base image.","IsOfficial":"true","Name":"busybox","StarCount":"3369"}` {
		t.Errorf("json: %s", first)
	}
	if !strings.Contains(errOut.String(), `WARNING: the "is-automated" filter is deprecated`) {
		t.Errorf("stderr: %q", errOut.String())
	}
}
