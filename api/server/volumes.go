package server

import (
	"net/http"

	"github.com/moby/moby/api/types/volume"
)

func (s *Server) volumeRoutes() {
	s.handle("GET /volumes", s.volumeList)
	s.handle("POST /volumes/create", s.volumeCreate)
	s.handle("POST /volumes/prune", s.volumePrune)
	s.handle("GET /volumes/{name}", s.volumeInspect)
	s.handle("DELETE /volumes/{name}", s.volumeDelete)
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	res, err := s.d.ListVolumes(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	v, err := s.d.CreateVolume(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.d.InspectVolume(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) volumeDelete(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.d.RemoveVolume(r.Context(), r.PathValue("name"), boolValue(r, "force")))
}

func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	rep, err := s.d.PruneVolumes(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
