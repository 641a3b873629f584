package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

type fakePruner struct {
	got   *client.BuildCachePruneOptions
	calls int
}

func (f *fakePruner) BuildCachePrune(_ context.Context, o client.BuildCachePruneOptions) (client.BuildCachePruneResult, error) {
	f.calls++
	f.got = &o
	return client.BuildCachePruneResult{Report: build.CachePruneReport{CachesDeleted: []string{"abc", "def"}, SpaceReclaimed: 2048}}, nil
}

func TestPruneBuildCache(t *testing.T) {
	var out bytes.Buffer
	f := &fakePruner{}
	if err := PruneBuildCache(context.Background(), f, Streams{In: strings.NewReader("n\n"), Out: &out}, BuilderPruneOptions{All: true}); err != nil || f.calls != 0 {
		t.Fatalf("a no answer pruned: %v %d", err, f.calls)
	}
	if !strings.Contains(out.String(), "WARNING! This will remove all build cache.") {
		t.Fatalf("prompt: %q", out.String())
	}
	out.Reset()
	if err := PruneBuildCache(context.Background(), f, Streams{Out: &out}, BuilderPruneOptions{Force: true, Filters: []string{"until=24h"}}); err != nil {
		t.Fatal(err)
	}
	if f.got.All || out.String() != "Deleted build cache objects:\nabc\ndef\n\nTotal reclaimed space: 2.048kB\n" {
		t.Fatalf("all=%v output %q", f.got.All, out.String())
	}
}
