package server

import (
	"net/http"

	"github.com/berth-dev/berth/daemon"
)

// imageManageRoutes registers the image manage endpoints (issue 4).
func (s *Server) imageManageRoutes() {
	s.handle("GET /images/json", s.imageList)
	s.handle("POST /images/prune", s.imagePrune)
	s.handle("GET /system/df", s.systemDF)
	s.imageOp("POST", "tag", s.imageTag)
	s.imageOp("DELETE", "", s.imageDelete)
	s.imageOp("GET", "history", s.imageHistory)
}

// imageList is GET /images/json with all, filters and shared-size.
func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	// filter=NAME is the pre-1.25 form of reference=NAME.
	if v := r.URL.Query().Get("filter"); v != "" {
		f["reference"] = append(f["reference"], v)
	}
	list, err := s.d.ListImages(r.Context(), daemon.ImageListOptions{
		All: boolValue(r, "all"), SharedSize: boolValue(r, "shared-size"), Filters: f,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

// imageTag is POST /images/{name}/tag?repo=&tag=: 201 on success.
func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	if err := s.d.ImageTag(r.Context(), name, q.Get("repo"), q.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// imageDelete is DELETE /images/{name}?force=&noprune=.
func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request, name string) error {
	recs, err := s.d.ImageDelete(r.Context(), name, boolValue(r, "force"), !boolValue(r, "noprune"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, recs)
}

// imageHistory is GET /images/{name}/history.
func (s *Server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	h, err := s.d.ImageHistory(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h)
}

// imagePrune is POST /images/prune?filters=.
func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	rep, err := s.d.ImagesPrune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// systemDF is GET /system/df?type=.
func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) error {
	du, err := s.d.DiskUsage(r.Context(), r.URL.Query()["type"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, du)
}
