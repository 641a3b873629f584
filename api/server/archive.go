package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
)

// fsRoutes registers the container filesystem endpoints: diff, cp, export and commit.
func (s *Server) fsRoutes() {
	s.handle("GET /containers/{id}/changes", s.containerChanges)
	s.handle("HEAD /containers/{id}/archive", s.containerArchiveStat)
	s.handle("GET /containers/{id}/archive", s.containerArchiveGet)
	s.handle("PUT /containers/{id}/archive", s.containerArchivePut)
	s.handle("GET /containers/{id}/export", s.containerExport)
	s.handle("POST /commit", s.containerCommit)
}

func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) error {
	changes, err := s.d.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, changes)
}

func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.InvalidParameter("bad parameter: 'path' cannot be empty")
	}
	return p, nil
}

// setPathStat sets docker's X-Docker-Container-Path-Stat header: the stat as base64 JSON.
func setPathStat(w http.ResponseWriter, st container.PathStat) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
	return nil
}

func (s *Server) containerArchiveStat(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := s.d.StatPath(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	if err := setPathStat(w, st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) containerArchiveGet(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	a, err := s.d.ArchivePath(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := setPathStat(w, a.Stat); err != nil {
		return err
	}
	s.streamTar(w, r, a)
	return nil
}

func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) error {
	a, err := s.d.Export(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer a.Close()
	s.streamTar(w, r, a)
	return nil
}

// streamTar sends the archive with status 200. A failure once the body has started
// breaks the connection, so that the client sees a truncated stream, never a short
// archive that looks complete.
func (s *Server) streamTar(w http.ResponseWriter, r *http.Request, a *daemon.PathArchive) {
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	err := a.WriteTo(r.Context(), bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("archive stream failed", "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) containerArchivePut(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	err = s.d.ExtractToDir(r.Context(), r.PathValue("id"), p, r.Body, daemon.ExtractOptions{
		NoOverwriteDirNonDir: boolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           boolValue(r, "copyUIDGID"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// containerCommit is POST /commit. The body is an optional container config: empty,
// "null" or "{}" keep the container's.
func (s *Server) containerCommit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var body struct{ *container.Config }
	if r.Body != nil {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			return errdefs.InvalidParameter("invalid JSON: " + err.Error())
		}
	}
	pause := true
	if q.Has("pause") {
		pause = boolValue(r, "pause")
	}
	img, err := s.d.CommitContainer(context.WithoutCancel(r.Context()), q.Get("container"), daemon.CommitOptions{
		Repo:    q.Get("repo"),
		Tag:     q.Get("tag"),
		Author:  q.Get("author"),
		Comment: q.Get("comment"),
		Pause:   pause,
		Changes: q["changes"],
		Config:  body.Config,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CommitResponse{ID: img.ID})
}
