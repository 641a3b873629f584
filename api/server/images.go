package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
)

// imageCreate is POST /images/create: a pull, streamed as Docker's JSON messages.
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from := q.Get("fromImage")
	if from == "" {
		if q.Get("fromSrc") != "" {
			return s.imageImport(w, r)
		}
		return errdefs.InvalidParameter("fromImage or fromSrc must be given")
	}
	r, err := withRegistryAuth(r)
	if err != nil {
		return err
	}
	sw := &streamWriter{w: w}
	err = s.d.Pull(r.Context(), from, q.Get("tag"), q.Get("platform"), sw.message)
	if err == nil {
		return nil
	}
	if !sw.started {
		return err // nothing sent yet: a plain error response with its status
	}
	sw.message(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
	return nil
}

// streamWriter sends JSON messages, writing the 200 header with the first one.
type streamWriter struct {
	w       http.ResponseWriter
	started bool
}

func (sw *streamWriter) message(m jsonstream.Message) {
	if !sw.started {
		sw.w.Header().Set("Content-Type", "application/json")
		sw.w.WriteHeader(http.StatusOK)
		sw.started = true
	}
	// "error" is the legacy field older clients still read.
	type legacy struct {
		jsonstream.Message
		ErrorMessage string `json:"error,omitempty"`
	}
	l := legacy{Message: m}
	if m.Error != nil {
		l.ErrorMessage = m.Error.Message
	}
	json.NewEncoder(sw.w).Encode(l)
	if f, ok := sw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// imageOpFunc handles /images/{name}/{op} for one method and op; name may hold slashes.
type imageOpFunc func(w http.ResponseWriter, r *http.Request, name string) error

// imageOp registers h for METHOD /images/{name}/{op} ("" op: /images/{name} itself).
func (s *Server) imageOp(method, op string, h imageOpFunc) {
	if s.imageOps == nil {
		s.imageOps = map[string]imageOpFunc{}
	}
	s.imageOps[method+" "+op] = h
}

// imagesDispatch routes /images/... requests whose image name may contain slashes.
func (s *Server) imagesDispatch(w http.ResponseWriter, r *http.Request) error {
	rest := r.PathValue("rest")
	if r.Method == http.MethodGet && rest == "json" {
		list, err := s.d.ImageList(r.Context(), boolValue(r, "all"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	}
	name, op := rest, ""
	if r.Method != http.MethodDelete {
		i := strings.LastIndex(rest, "/")
		if i <= 0 {
			return errdefs.New(errdefs.ErrNotImplemented, r.Method+" /images/"+rest+" is not supported by Berth yet")
		}
		name, op = rest[:i], rest[i+1:]
	}
	if h, ok := s.imageOps[r.Method+" "+op]; ok {
		return h(w, r, name)
	}
	return errdefs.New(errdefs.ErrNotImplemented, r.Method+" /images/"+rest+" is not supported by Berth yet")
}

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request, name string) error {
	img, err := s.d.ImageInspect(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, img)
}
