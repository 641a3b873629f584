package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
)

const (
	// hubSearchURL is Docker Hub's search API.
	hubSearchURL = "https://index.docker.io/v1/search"
	// DefaultSearchLimit is the number of results a search returns unless told otherwise.
	DefaultSearchLimit = 25
	// maxSearchResponse bounds a search or catalog response read into memory.
	maxSearchResponse = 8 << 20
	// catalogPageSize and maxCatalogPages bound how much of a catalog is read.
	catalogPageSize = 1000
	maxCatalogPages = 100
)

// SplitSearchTerm splits a search term into the registry it names ("docker.io" when
// the first component is not a host) and the term proper, as docker does.
func SplitSearchTerm(term string) (host, rest string) {
	first, after, ok := strings.Cut(term, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return dockerHubDomain, term
	}
	return first, after
}

// Search finds repositories matching term: a bare term ("busybox", "user/app") asks
// Docker Hub's search API; "HOST[:PORT]/TERM" lists that registry's catalog (its
// mirrors first) and keeps the repositories whose name contains TERM. At most limit
// results (1 to 100; 0 means DefaultSearchLimit) are returned, unfiltered.
func (p *Puller) Search(ctx context.Context, term string, limit int) ([]registry.SearchResult, error) {
	if strings.Contains(term, "://") {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid repository name: repository name (%s) should not have a scheme", term))
	}
	if limit == 0 {
		limit = DefaultSearchLimit
	}
	if limit < 1 || limit > 100 {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("limit %d is outside the range of [1, 100]", limit))
	}
	host, rest := SplitSearchTerm(term)
	if canonicalHost(host) == dockerHubDomain {
		if rest == "" {
			return nil, errdefs.InvalidParameter("search term must not be empty")
		}
		return p.searchHub(ctx, strings.TrimPrefix(rest, "library/"), limit)
	}
	return p.searchCatalog(ctx, host, strings.ToLower(rest), limit)
}

func (p *Puller) searchHub(ctx context.Context, term string, limit int) ([]registry.SearchResult, error) {
	if p.opts.NoHub {
		return nil, errdefs.New(errdefs.ErrUnavailable, "searching Docker Hub is disabled: berthd runs with --no-docker-hub; search a registry by naming it, e.g. 127.0.0.1:5000/"+term)
	}
	base := p.opts.HubSearch
	if base == "" {
		base = hubSearchURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("invalid Docker Hub search URL %q", base)
	}
	u.RawQuery = url.Values{"q": {term}, "n": {strconv.Itoa(limit)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: p.secure}).Do(req)
	if err != nil {
		return nil, errdefs.New(errdefs.ErrUnavailable, fmt.Sprintf("search Docker Hub: %v", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("search Docker Hub: unexpected status code %d", resp.StatusCode)
	}
	body, err := readAllLimit(resp.Body, maxSearchResponse)
	if err != nil {
		return nil, fmt.Errorf("search Docker Hub: %w", err)
	}
	var res registry.SearchResults
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("error decoding registry search results: %w", err)
	}
	if len(res.Results) > limit {
		res.Results = res.Results[:limit]
	}
	return nonNilResults(res.Results), nil
}

// searchCatalog asks the mirrors of host, then host itself, for its catalog; the first
// that answers is used. Result names start with host, so that they can be pulled.
func (p *Puller) searchCatalog(ctx context.Context, host, term string, limit int) ([]registry.SearchResult, error) {
	if _, err := name.NewRegistry(host, name.StrictValidation); err != nil {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid registry %q: %v", host, err))
	}
	type source struct {
		host     string
		insecure bool
	}
	var sources []source
	for _, m := range p.mirrorsOf(host) {
		h, insecure, err := p.parseMirror(m)
		if err != nil {
			return nil, err
		}
		sources = append(sources, source{h, insecure})
	}
	sources = append(sources, source{host, p.isInsecure(host)})
	var errs []error
	for _, s := range sources {
		repos, err := p.catalog(ctx, s.host, s.insecure)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		return matchCatalog(host, term, repos, limit), nil
	}
	return nil, catalogError(host, errs)
}

// matchCatalog keeps the repositories whose name contains term, the ones whose last
// component is term first, then by name.
func matchCatalog(host, term string, repos []string, limit int) []registry.SearchResult {
	var hits []string
	for _, r := range repos {
		if strings.Contains(strings.ToLower(r), term) {
			hits = append(hits, r)
		}
	}
	exact := func(r string) bool { return r[strings.LastIndexByte(r, '/')+1:] == term }
	slices.SortFunc(hits, func(a, b string) int {
		if ea, eb := exact(a), exact(b); ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make([]registry.SearchResult, 0, min(len(hits), limit))
	for _, r := range hits[:min(len(hits), limit)] {
		out = append(out, registry.SearchResult{Name: host + "/" + r})
	}
	return out
}

// catalog lists every repository of a registry through /v2/_catalog, following its
// pagination links on the same host.
func (p *Puller) catalog(ctx context.Context, host string, insecure bool) ([]string, error) {
	opts := []name.Option{name.StrictValidation}
	base := p.secure
	if insecure {
		opts = append(opts, name.Insecure)
		base = p.noTLS
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return nil, err
	}
	auth, err := p.authenticator(ctx, reg)
	if err != nil {
		return nil, err
	}
	tr, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope("*")})
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: tr}
	next := &url.URL{Scheme: reg.Scheme(), Host: reg.RegistryStr(), Path: "/v2/_catalog", RawQuery: "n=" + strconv.Itoa(catalogPageSize)}
	var repos []string
	for page := 0; next != nil && page < maxCatalogPages; page++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var body []byte
		if err = transport.CheckError(resp, http.StatusOK); err == nil {
			body, err = readAllLimit(resp.Body, maxSearchResponse)
		}
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		var doc struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("invalid catalog of %s: %w", host, err)
		}
		repos = append(repos, doc.Repositories...)
		next = nextLink(next, resp.Header.Get("Link"))
	}
	return repos, nil
}

// nextLink resolves a `<url>; rel="next"` Link header against cur; a link to another
// host is ignored.
func nextLink(cur *url.URL, header string) *url.URL {
	for _, part := range strings.Split(header, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		target = strings.TrimSpace(target)
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		u, err := cur.Parse(target[1 : len(target)-1])
		if err != nil || u.Host != cur.Host || u.Scheme != cur.Scheme {
			return nil
		}
		return u
	}
	return nil
}

// catalogError reports why no catalog could be read, in the terms a user acts on.
func catalogError(host string, errs []error) error {
	err := errs[len(errs)-1]
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.New(errdefs.ErrForbidden, fmt.Sprintf("search %s: the registry refused to list its repositories (%d): log in with 'docker login %s'", host, terr.StatusCode, host))
		case http.StatusNotFound:
			return errdefs.NotFound(fmt.Sprintf("search %s: the registry does not offer a catalog (/v2/_catalog)", host))
		}
	}
	return fmt.Errorf("search %s: %w", host, err)
}

func nonNilResults(r []registry.SearchResult) []registry.SearchResult {
	if r == nil {
		return []registry.SearchResult{}
	}
	return r
}
