package server

import (
	"net/http"

	"github.com/moby/moby/api/types/network"
)

func (s *Server) networkRoutes() {
	s.handle("GET /networks", s.networkList)
	s.handle("GET /networks/{id}", s.networkInspect)
	s.handle("POST /networks/create", s.networkCreate)
	s.handle("POST /networks/prune", s.networkPrune)
	s.handle("DELETE /networks/{id}", s.networkDelete)
	s.handle("POST /networks/{id}/connect", s.networkConnect)
	s.handle("POST /networks/{id}/disconnect", s.networkDisconnect)
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	nets, err := s.d.ListNetworks(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nets)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	n, err := s.d.InspectNetwork(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	res, err := s.d.CreateNetwork(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	deleted, err := s.d.PruneNetworks(r.Context(), f)
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []string{}
	}
	return writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: deleted})
}

func (s *Server) networkDelete(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.d.RemoveNetwork(r.Context(), r.PathValue("id")))
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.d.ConnectNetwork(r.Context(), r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.d.DisconnectNetwork(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
