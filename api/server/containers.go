package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
)

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) error {
	var req container.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	c, err := s.d.Create(r.Context(), daemon.CreateOptions{
		Name:       r.URL.Query().Get("name"),
		Config:     req.Config,
		HostConfig: req.HostConfig,
		Platform:   r.URL.Query().Get("platform"),
		Networking: req.NetworkingConfig,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, container.CreateResponse{ID: c.ID, Warnings: []string{}})
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) error {
	filters, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return errdefs.InvalidParameter("invalid limit: " + v)
		}
	}
	list, err := s.d.List(r.Context(), daemon.ListOptions{All: boolValue(r, "all"), Size: boolValue(r, "size"), Limit: limit, Filters: filters})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Inspect(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, withLegacyNetwork(c))
}

// legacyNetworkSettings adds the top-level address fields that API 1.47 still has (and
// scripts read as .NetworkSettings.IPAddress): those of the default bridge endpoint.
type legacyNetworkSettings struct {
	*container.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []string
	SecondaryIPv6Addresses []string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

type inspectCompat struct {
	*container.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

func withLegacyNetwork(c *container.InspectResponse) inspectCompat {
	ns := &legacyNetworkSettings{NetworkSettings: c.NetworkSettings}
	if ep := c.NetworkSettings.Networks["bridge"]; ep != nil {
		ns.EndpointID, ns.IPPrefixLen, ns.MacAddress = ep.EndpointID, ep.IPPrefixLen, ep.MacAddress.String()
		if ep.IPAddress.IsValid() {
			ns.IPAddress, ns.Gateway = ep.IPAddress.String(), ep.Gateway.String()
		}
	}
	return inspectCompat{InspectResponse: c, NetworkSettings: ns}
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Start(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func stopParams(r *http.Request) (*int, string, error) {
	q := r.URL.Query()
	var timeout *int
	if v := q.Get("t"); v != "" {
		t, err := strconv.Atoi(v)
		if err != nil {
			return nil, "", errdefs.InvalidParameter("invalid value for t: " + v)
		}
		timeout = &t
	}
	return timeout, q.Get("signal"), nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) error {
	timeout, sig, err := stopParams(r)
	if err != nil {
		return err
	}
	if err := s.d.Stop(r.Context(), r.PathValue("id"), timeout, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) error {
	timeout, sig, err := stopParams(r)
	if err != nil {
		return err
	}
	if err := s.d.Restart(r.Context(), r.PathValue("id"), timeout, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.Remove(r.Context(), r.PathValue("id"), boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerWait sends the 200 header at once (clients register the wait before start)
// and the result when the condition is met.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	wait, err := s.d.WaitFor(r.PathValue("id"), r.URL.Query().Get("condition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f := flusher(w); f != nil {
		f()
	}
	code, err := wait(r.Context())
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	}
	return json.NewEncoder(w).Encode(resp)
}

// containerAttach hijacks the connection (101 UPGRADED when the client asks for it) and
// streams the container's output, multiplexed unless it has a TTY.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	info, err := s.d.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	tty := info.Config.Tty
	withStdin, withStdout, withStderr := boolValue(r, "stdin"), boolValue(r, "stdout"), boolValue(r, "stderr")
	keys, err := parseDetachKeys(r.URL.Query().Get("detachKeys"))
	if err != nil {
		return err
	}
	return s.hijack(w, r, tty, keys, func(ctx context.Context, o daemon.AttachOptions) error {
		if !withStdout {
			o.Stdout = nil
		}
		if !withStderr {
			o.Stderr = nil
		}
		if !withStdin {
			o.Stdin = nil
		}
		return s.d.Attach(ctx, id, o)
	})
}

// hijack takes over the connection (101 UPGRADED when the client asks for it), hands
// fn stdio over it (multiplexed unless tty) and closes it when fn returns.
// Typing detachKeys on stdin ends the stream (the container keeps running) by
// cancelling the context fn gets.
func (s *Server) hijack(w http.ResponseWriter, r *http.Request, tty bool, detachKeys []byte, fn func(context.Context, daemon.AttachOptions) error) error {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return errors.New("connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return err
	}
	defer conn.Close()
	// Give the connection no deadline: attaches live as long as the process.
	conn.SetDeadline(time.Time{})
	hdr := "HTTP/1.1 200 OK\r\n"
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") {
		hdr = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
	}
	hdr += "Content-Type: " + contentType(tty) + "\r\nApi-Version: " + daemon.APIVersion + "\r\n\r\n"
	// The header goes out once the daemon has registered the attach (so a client that
	// starts the container on seeing it loses no output), or before the first output.
	var sent atomic.Bool
	ready := sync.OnceFunc(func() {
		sent.Store(true)
		conn.Write([]byte(hdr))
	})
	stdout, stderr := outputWriters(&readyWriter{w: conn, ready: ready}, tty, nil)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	o := daemon.AttachOptions{Stdout: stdout, Stderr: stderr, Ready: ready}
	o.Stdin = &detachReader{r: readerOf(buf.Reader, conn), keys: detachKeys, onDetach: cancel}
	err = fn(ctx, o)
	if err != nil && ctx.Err() == nil {
		s.log.Debug("stream ended", "path", r.URL.Path, "err", err)
		if !sent.Load() {
			// Nothing streamed yet: answer with a plain HTTP error.
			body, _ := json.Marshal(map[string]string{"message": err.Error()})
			status := errdefs.HTTPStatus(err)
			fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nApi-Version: %s\r\n\r\n%s",
				status, http.StatusText(status), len(body), daemon.APIVersion, body)
			return nil
		}
		if errdefs.HTTPStatus(err) < 500 {
			stderr.Write([]byte(err.Error() + "\n"))
		}
	}
	ready()
	return nil
}

// readyWriter makes sure the response header precedes the first output byte.
type readyWriter struct {
	w     io.Writer
	ready func()
}

func (r *readyWriter) Write(p []byte) (int, error) {
	r.ready()
	return r.w.Write(p)
}

// readerOf reads what the HTTP server already buffered, then the connection.
func readerOf(b *bufio.Reader, conn io.Reader) io.Reader {
	if b.Buffered() == 0 {
		return conn
	}
	pre, _ := b.Peek(b.Buffered())
	return io.MultiReader(strings.NewReader(string(pre)), conn)
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	info, err := s.d.Inspect(r.Context(), id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	o := daemon.LogsOptions{
		Stdout:     boolValue(r, "stdout"),
		Stderr:     boolValue(r, "stderr"),
		Follow:     boolValue(r, "follow"),
		Timestamps: boolValue(r, "timestamps"),
		Details:    boolValue(r, "details"),
		Tail:       -1,
	}
	if !o.Stdout && !o.Stderr {
		return errdefs.InvalidParameter(errNoStreams.Error())
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid value for tail: %q: must be \"all\" or a number of lines ≥ 0", t))
		}
		o.Tail = n
	}
	if o.Since, err = parseTimestamp(q.Get("since")); err != nil {
		return err
	}
	if o.Until, err = parseTimestamp(q.Get("until")); err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType(info.Config.Tty))
	w.WriteHeader(http.StatusOK)
	var flush func()
	if o.Follow {
		flush = flusher(w)
		if flush != nil {
			flush()
		}
	}
	stdout, stderr := outputWriters(w, info.Config.Tty, flush)
	if err := s.d.Logs(r.Context(), id, o, stdout, stderr); err != nil && r.Context().Err() == nil {
		s.log.Warn("logs", "id", id, "err", err)
	}
	return nil
}

// parseTimestamp reads the "seconds[.nanoseconds]" form docker clients send.
func parseTimestamp(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, errdefs.InvalidParameter(fmt.Sprintf("invalid timestamp %q", v))
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, errdefs.InvalidParameter(fmt.Sprintf("invalid timestamp %q", v))
		}
		ns = n * int64(math.Pow10(9-len(frac)))
	}
	return time.Unix(s, ns), nil
}
