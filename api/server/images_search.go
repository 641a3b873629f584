package server

import (
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/registry"
)

// searchRoutes registers the image search endpoints (issue 4).
func (s *Server) searchRoutes() {
	s.handle("GET /images/search", s.imageSearch)
}

// imageSearch is GET /images/search?term=&limit=&filters=.
func (s *Server) imageSearch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errdefs.InvalidParameter("invalid limit specified: " + v)
		}
		limit = n
	}
	filters, err := decodeFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	// As in dockerd, credentials that cannot be decoded are ignored for a search.
	ctx := r.Context()
	if ac, err := daemon.DecodeRegistryAuth(r.Header.Get(registry.AuthHeader)); err == nil {
		ctx = daemon.WithRegistryAuth(ctx, ac)
	}
	res, err := s.d.Search(ctx, daemon.SearchOptions{Term: q.Get("term"), Limit: limit, Filters: filters})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
