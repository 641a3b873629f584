package server

import (
	"bufio"
	"encoding/json"
	"net/http"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
)

// imageArchiveRoutes registers the image archive endpoints: save, load (import is
// POST /images/create?fromSrc=, in imageCreate).
func (s *Server) imageArchiveRoutes() {
	s.handle("GET /images/get", func(w http.ResponseWriter, r *http.Request) error {
		return s.imageSave(w, r, r.URL.Query()["names"])
	})
	s.imageOp("GET", "get", func(w http.ResponseWriter, r *http.Request, name string) error {
		return s.imageSave(w, r, []string{name})
	})
	s.handle("POST /images/load", s.imageLoad)
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request, names []string) error {
	write, err := s.d.ImageSave(r.Context(), names)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := write(bw); err != nil {
		// The status is sent: cutting the stream short is all that is left.
		s.log.Error("image save", "names", names, "err", err)
		panic(http.ErrAbortHandler)
	}
	return bw.Flush()
}

func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) error {
	lines, err := s.d.ImageLoad(r.Context(), bufio.NewReaderSize(r.Body, 256<<10))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		enc.Encode(jsonstream.Message{Stream: l + "\n"})
	}
	return nil
}

// imageImport is POST /images/create?fromSrc=: the body (fromSrc=-) or a URL's
// tarball as a new single-layer image, answered with its ID as a status message.
func (s *Server) imageImport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	src := q.Get("fromSrc")
	if src == "" {
		return errdefs.InvalidParameter("fromSrc must be given")
	}
	img, err := s.d.ImageImport(r.Context(), daemon.ImportOptions{
		Source:   src,
		Body:     r.Body,
		Repo:     q.Get("repo"),
		Tag:      q.Get("tag"),
		Message:  q.Get("message"),
		Changes:  q["changes"],
		Platform: q.Get("platform"),
	})
	if err != nil {
		return err
	}
	sw := &streamWriter{w: w}
	sw.message(jsonstream.Message{Status: img.ID})
	return nil
}
