package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// apiFake is an Engine API server on a unix socket whose routes the test supplies, keyed
// by "METHOD /path" without the version prefix. Unknown routes answer 404 like a daemon
// without that endpoint would, and every request is recorded.
type apiFake struct {
	t      *testing.T
	host   string
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	reqs   []*recordedRequest
}

type recordedRequest struct {
	Method, Path string
	Query        map[string][]string
	Body         []byte
}

func newAPIFake(t *testing.T) *apiFake {
	t.Helper()
	f := &apiFake{t: t, routes: map[string]http.HandlerFunc{}}
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	f.host = "unix://" + sock
	return f
}

// on sets the handler of "METHOD /path".
func (f *apiFake) on(route string, h http.HandlerFunc) {
	f.mu.Lock()
	f.routes[route] = h
	f.mu.Unlock()
}

// json answers route with status and v encoded as JSON.
func (f *apiFake) json(route string, status int, v any) {
	f.on(route, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, status, v) })
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *apiFake) serve(w http.ResponseWriter, r *http.Request) {
	p := versionPrefix.ReplaceAllString(r.URL.Path, "")
	if p == "/_ping" {
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("Ostype", "linux")
		io.WriteString(w, "OK")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20)) // bodies in tests are small
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.reqs = append(f.reqs, &recordedRequest{Method: r.Method, Path: p, Query: r.URL.Query(), Body: body})
	h := f.routes[r.Method+" "+p]
	f.mu.Unlock()
	if h == nil {
		jsonError(w, 404, "page not found")
		return
	}
	h(w, r)
}

// requests returns the recorded requests for "METHOD /path".
func (f *apiFake) requests(route string) []*recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*recordedRequest
	for _, r := range f.reqs {
		if r.Method+" "+r.Path == route {
			out = append(out, r)
		}
	}
	return out
}

// only returns the single request for route, failing the test otherwise.
func (f *apiFake) only(route string) *recordedRequest {
	f.t.Helper()
	rs := f.requests(route)
	if len(rs) != 1 {
		f.t.Fatalf("%d requests for %s, want 1", len(rs), route)
	}
	return rs[0]
}

// run runs the CLI against the fake with stdin and returns exit code, stdout and stderr.
func (f *apiFake) run(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"-H", f.host}, args...), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// hijack upgrades the connection and writes payload as a multiplexed (or raw) stream, after
// reading stdin until the client closes its side when readStdin is set.
func hijack(w http.ResponseWriter, r *http.Request, raw bool, readStdin bool, payload func(conn net.Conn, stdin []byte)) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if raw {
		ct = "application/vnd.docker.raw-stream"
	}
	fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	go func() {
		defer conn.Close()
		var in []byte
		if readStdin {
			in, _ = io.ReadAll(buf)
		}
		payload(conn, in)
	}()
}

// inspectJSON is a minimal container inspect answer; extra adds members (a repeated
// member, such as Config, replaces the earlier one when decoded).
func inspectJSON(id, name string, running bool, extra string) string {
	status := "exited"
	if running {
		status = "running"
	}
	return fmt.Sprintf(`{"Id":%q,"Name":"/%s","State":{"Status":%q,"Running":%v},"Config":{"Image":"busybox"},"HostConfig":{}%s}`, id, name, status, running, extra)
}

// inspect answers the inspect of a container by name and by ID.
func (f *apiFake) inspect(name, id string, running bool, extra string) {
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, inspectJSON(id, name, running, extra))
	}
	f.on("GET /containers/"+name+"/json", h)
	f.on("GET /containers/"+id+"/json", h)
}
