package daemon

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/registry"
)

// SearchOptions are the inputs of GET /images/search.
type SearchOptions struct {
	Term    string
	Limit   int                 // 0: 25; else 1 to 100
	Filters map[string][]string // is-official, is-automated, stars
}

// Search finds images in Docker Hub or, for "HOST[:PORT]/TERM", in that registry's
// catalog, and applies docker's search filters.
func (d *Daemon) Search(ctx context.Context, o SearchOptions) ([]registry.SearchResult, error) {
	for k := range o.Filters {
		switch k {
		case "is-official", "is-automated", "stars":
		default:
			return nil, errdefs.InvalidParameter("invalid filter '" + k + "'")
		}
	}
	official, hasOfficial, err := boolFilter(o.Filters, "is-official")
	if err != nil {
		return nil, err
	}
	automated, _, err := boolFilter(o.Filters, "is-automated")
	if err != nil {
		return nil, err
	}
	stars := 0
	for _, v := range o.Filters["stars"] {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid filter 'stars=%s': %v", v, err))
		}
		stars = max(stars, n)
	}
	if o.Limit < 0 {
		return nil, errdefs.InvalidParameter("invalid limit specified")
	}
	if automated {
		// "is-automated" is deprecated: no repository is automated any more.
		return []registry.SearchResult{}, nil
	}
	res, err := d.puller.Search(ctx, o.Term, o.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]registry.SearchResult, 0, len(res))
	for _, r := range res {
		if (hasOfficial && r.IsOfficial != official) || r.StarCount < stars {
			continue
		}
		r.IsAutomated = false //nolint:staticcheck // deprecated field, always false as in dockerd
		out = append(out, r)
	}
	return out, nil
}

// boolFilter reads a true/false filter as dockerd does: "1"/"true" or "0"/"false", and
// not both.
func boolFilter(f map[string][]string, key string) (value, set bool, err error) {
	vals, ok := f[key]
	if !ok {
		return false, false, nil
	}
	if len(vals) == 0 {
		return false, false, errdefs.InvalidParameter("invalid filter '" + key + "'")
	}
	isTrue := slices.Contains(vals, "1") || slices.Contains(vals, "true")
	isFalse := slices.Contains(vals, "0") || slices.Contains(vals, "false")
	if isTrue == isFalse {
		return false, false, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s=[%s]'", key, strings.Join(vals, " ")))
	}
	return isTrue, true, nil
}
