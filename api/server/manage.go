package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
)

func (s *Server) manageRoutes() {
	s.handle("POST /containers/{id}/rename", s.containerRename)
	s.handle("POST /containers/{id}/pause", s.containerPause)
	s.handle("POST /containers/{id}/unpause", s.containerUnpause)
	s.handle("POST /containers/{id}/resize", s.containerResize)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("GET /containers/{id}/stats", s.containerStats)
	s.handle("POST /containers/prune", s.containerPrune)
	s.handle("POST /containers/{id}/update", s.containerUpdate)
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", s.execResize)
	s.handle("GET /exec/{id}/json", s.execInspect)
	s.handle("GET /events", s.events)
}

func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.d.Rename(r.Context(), r.PathValue("id"), r.URL.Query().Get("name")))
}

func (s *Server) containerPause(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.d.Pause(r.Context(), r.PathValue("id")))
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.d.Unpause(r.Context(), r.PathValue("id")))
}

func sizeParams(r *http.Request) (uint16, uint16, error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	w, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, errdefs.InvalidParameter("invalid resize parameters: h and w must be numbers")
	}
	return uint16(h), uint16(w), nil
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	if err := s.d.Resize(r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) error {
	var u container.UpdateConfig
	if err := decodeBody(r, &u); err != nil {
		return err
	}
	warnings, err := s.d.Update(r.Context(), r.PathValue("id"), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: warnings})
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	top, err := s.d.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, top)
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	deleted, space, err := s.d.Prune(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, container.PruneReport{ContainersDeleted: deleted, SpaceReclaimed: space})
}

// containerStats streams one StatsResponse a second, or sends one with stream=false.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
	oneShot := boolValue(r, "one-shot")
	first, err := s.d.Stats(r.Context(), id, nil)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	if !stream {
		if !oneShot {
			// docker computes CPU % from two samples: give it a real previous one.
			time.Sleep(time.Second)
			next, err := s.d.Stats(r.Context(), id, first)
			if err == nil {
				first = next
			}
		}
		return enc.Encode(first)
	}
	prev := first
	flush := flusher(w)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := enc.Encode(prev); err != nil {
			return nil
		}
		if flush != nil {
			flush()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-t.C:
		}
		next, err := s.d.Stats(r.Context(), id, prev)
		if err != nil {
			return nil // container gone or stopped: end the stream
		}
		prev = next
	}
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	id, err := s.d.ExecCreate(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var req container.ExecStartRequest
	if r.ContentLength != 0 && r.Body != nil {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, errEOF) {
			return errdefs.InvalidParameter("invalid JSON: " + err.Error())
		}
	}
	info, err := s.d.ExecInspect(r.Context(), id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := s.d.ExecStart(r.Context(), id, true, daemon.AttachOptions{}); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, struct{}{})
	}
	tty := info.ProcessConfig != nil && info.ProcessConfig.Tty
	keys, err := parseDetachKeys(string(info.DetachKeys))
	if err != nil {
		return err
	}
	return s.hijack(w, r, tty, keys, func(ctx context.Context, o daemon.AttachOptions) error {
		if !info.OpenStdin {
			o.Stdin = nil
		}
		if !info.OpenStdout {
			o.Stdout = nil
		}
		if !info.OpenStderr {
			o.Stderr = nil
		}
		return s.d.ExecStart(ctx, id, false, o)
	})
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) error {
	h, wd, err := sizeParams(r)
	if err != nil {
		return err
	}
	if err := s.d.ExecResize(r.Context(), r.PathValue("id"), h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) error {
	info, err := s.d.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

// events streams engine events as JSON objects, one per line.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	since, err := parseEventTime(q.Get("since"))
	if err != nil {
		return err
	}
	until, err := parseEventTime(q.Get("until"))
	if err != nil {
		return err
	}
	f, err := decodeFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	for k := range f {
		switch k {
		case "container", "event", "image", "label", "type", "daemon", "network", "volume", "plugin", "scope":
		default:
			return errdefs.InvalidParameter("invalid filter '" + k + "'")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush := flusher(w)
	if flush != nil {
		flush()
	}
	enc := json.NewEncoder(w)
	return s.d.Events(r.Context().Done(), since, until, daemon.EventFilter(f), func(e daemon.Event) error {
		if err := enc.Encode(e); err != nil {
			return err
		}
		if flush != nil {
			flush()
		}
		return nil
	})
}

// parseEventTime reads since/until: Unix seconds with optional fraction (the CLI
// converts RFC 3339 and relative forms before sending).
func parseEventTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if strings.ContainsAny(v, "-:T") {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, nil
		}
	}
	return parseTimestamp(v)
}
