package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// fakeDaemon is a small Engine API server on a unix socket for unit tests of the CLI's
// request flows. It models one container and records the calls it receives.
type fakeDaemon struct {
	t    *testing.T
	host string

	mu        sync.Mutex
	calls     []string
	pulled    map[string]bool
	creates   []container.CreateRequest
	kills     []string
	stdinSeen string

	// Behaviour, set before use.
	id        string
	stdout    string // written on the attach stream once started
	stderr    string
	echoStdin bool // write what stdin delivered as stdout, after the other output
	tty       bool // raw stream instead of multiplexed frames
	ttyInput  int  // with a TTY, stdin bytes to read before writing output (a TTY has no EOF)
	holdOpen  bool // keep the attach stream open after the output, until the test ends
	exitCode  int
	startErr  string            // non-empty: start answers 500 with this message
	createErr map[string]string // image -> 400 message
	known     map[string]bool   // names accepted by stop/kill/rm/restart/inspect
	logs      string            // multiplexed or raw log payload

	started    chan struct{}
	outputDone chan struct{}
	done       chan struct{} // closed when the test ends
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{
		t:          t,
		pulled:     map[string]bool{},
		id:         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		known:      map[string]bool{},
		started:    make(chan struct{}),
		outputDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(d.serve))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(d.done) })
	d.host = "unix://" + sock
	return d
}

func (d *fakeDaemon) record(call string) {
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
}

func (d *fakeDaemon) callList() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	q := r.URL.Query()
	switch {
	case path == "/_ping":
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("Ostype", "linux")
		io.WriteString(w, "OK")
		return
	case path == "/version":
		d.record("version")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"Platform":{"Name":"Berth Engine"},"Version":"0.1.0","ApiVersion":"1.47","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64",
			"Components":[{"Name":"Engine","Version":"0.1.0","Details":{"ApiVersion":"1.47","MinAPIVersion":"1.24","GitCommit":"abc1234","GoVersion":"go1.26.8","Os":"linux","Arch":"amd64","BuildTime":"2026-11-26T00:00:00Z","Experimental":"false"}},
			{"Name":"runc","Version":"1.1.5","Details":{"GitCommit":"v1.1.5"}}]}`)
		return
	case path == "/containers/create":
		var req container.CreateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			jsonError(w, 400, err.Error())
			return
		}
		d.mu.Lock()
		d.creates = append(d.creates, req)
		pulled := d.pulled[req.Image]
		msg := d.createErr[req.Image]
		d.mu.Unlock()
		d.record("create " + q.Get("name"))
		switch {
		case msg != "":
			jsonError(w, 400, msg)
		case !pulled:
			jsonError(w, 404, "No such image: "+req.Image)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"Id":%q,"Warnings":["low on coffee"]}`, d.id)
		}
		return
	case path == "/images/create":
		ref := q.Get("fromImage") + ":" + q.Get("tag")
		d.record("pull " + ref)
		d.mu.Lock()
		d.pulled[strings.TrimPrefix(ref, "docker.io/library/")] = true
		d.pulled["busybox"] = true
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"Pulling from library/busybox","id":"latest"}`+"\n")
		io.WriteString(w, `{"status":"Pull complete","progressDetail":{},"id":"a1b2c3d4e5f6"}`+"\n")
		io.WriteString(w, `{"status":"Status: Downloaded newer image for busybox:latest"}`+"\n")
		return
	case len(parts) == 3 && parts[0] == "containers":
		d.container(w, r, parts[1], parts[2])
		return
	}
	jsonError(w, 404, "page not found")
}

func (d *fakeDaemon) container(w http.ResponseWriter, r *http.Request, name, op string) {
	q := r.URL.Query()
	if name != d.id && !d.known[name] {
		d.record(op + " " + name)
		jsonError(w, 404, "No such container: "+name)
		return
	}
	switch op {
	case "attach":
		d.record(fmt.Sprintf("attach stdin=%s stdout=%s stderr=%s", q.Get("stdin"), q.Get("stdout"), q.Get("stderr")))
		d.attach(w, q.Get("stdin") == "1")
	case "wait":
		d.record("wait " + q.Get("condition"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for _, ch := range []chan struct{}{d.started, d.outputDone} {
			select {
			case <-ch:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, `{"StatusCode":%d}`, d.exitCode)
	case "start":
		d.record("start")
		if d.startErr != "" {
			jsonError(w, 500, d.startErr)
			return
		}
		close(d.started)
		w.WriteHeader(204)
	case "kill":
		d.record("kill " + name + " " + q.Get("signal"))
		w.WriteHeader(204)
	case "stop", "restart":
		d.record(op + " " + name + " t=" + q.Get("t"))
		w.WriteHeader(204)
	case "resize":
		d.record("resize " + q.Get("h") + "x" + q.Get("w"))
	case "json":
		d.record("inspect " + name)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"Id":%q,"Name":"/web","State":{"Status":"running","Running":true},"Config":{"Tty":%v,"OpenStdin":false,"Image":"busybox"},"HostConfig":{}}`, d.id, d.tty)
	case "logs":
		d.record("logs follow=" + q.Get("follow") + " tail=" + q.Get("tail"))
		io.WriteString(w, d.logs)
	default:
		jsonError(w, 404, "page not found")
	}
}

// attach hijacks the connection, reads stdin (until the client closes its write side),
// then writes the output once the container is started and closes the stream.
func (d *fakeDaemon) attach(w http.ResponseWriter, stdin bool) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		d.t.Error(err)
		return
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if d.tty {
		ct = "application/vnd.docker.raw-stream"
	}
	fmt.Fprintf(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", ct)
	go func() {
		defer close(d.outputDone)
		defer conn.Close()
		var in []byte
		if d.tty && stdin {
			in = make([]byte, d.ttyInput)
			io.ReadFull(buf, in)
		} else {
			in, _ = io.ReadAll(buf)
		}
		if stdin {
			d.mu.Lock()
			d.stdinSeen = string(in)
			d.mu.Unlock()
		}
		select {
		case <-d.started:
		case <-d.done:
			return
		}
		out := d.stdout
		if d.echoStdin {
			out += string(in)
		}
		if d.tty {
			io.WriteString(conn, out+d.stderr)
		} else {
			conn.Write(frame(1, out))
			conn.Write(frame(2, d.stderr))
		}
		if d.holdOpen {
			<-d.done
		}
	}()
}

// frame encodes payload as one frame of Docker's multiplexed stream on stream fd.
func frame(fd byte, payload string) []byte {
	if payload == "" {
		return nil
	}
	b := make([]byte, 8, 8+len(payload))
	b[0] = fd
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}
