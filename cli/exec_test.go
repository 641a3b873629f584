package cli

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

const execID = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1"

// execFake serves an exec in container "web" that prints out and err, echoes its stdin
// on stdout, and exits with code.
func execFake(t *testing.T, out, errOut string, code int) *apiFake {
	f := newAPIFake(t)
	f.inspect("web", "0123456789ab0123456789ab0123456789ab0123456789ab0123456789ab0123", true, "")
	f.json("POST /containers/web/exec", 201, map[string]string{"Id": execID})
	f.on("POST /exec/"+execID+"/start", func(w http.ResponseWriter, r *http.Request) {
		var req container.ExecStartRequest
		json.Unmarshal(mustBody(r), &req)
		if req.Detach {
			w.WriteHeader(200)
			return
		}
		hijack(w, r, req.Tty, true, func(conn net.Conn, stdin []byte) {
			conn.Write(frame(1, out+string(stdin)))
			conn.Write(frame(2, errOut))
		})
	})
	f.json("GET /exec/"+execID+"/json", 200, map[string]any{"ID": execID, "Running": false, "ExitCode": code})
	return f
}

func mustBody(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

func TestExecAttachedReturnsExitCode(t *testing.T) {
	t.Setenv("BERTH_TEST_EXEC", "from-env")
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("FILE=1\n"), 0o644)
	f := execFake(t, "out\n", "err\n", 7)
	code, out, errOut := f.run("piped\n", "exec", "-i", "-u", "1000", "-w", "/tmp", "--privileged",
		"-e", "A=1", "-e", "BERTH_TEST_EXEC", "--env-file", envFile, "--detach-keys", "ctrl-a,a", "web", "sh", "-c", "cat")
	if code != 7 {
		t.Fatalf("exit code %d, want the exec's 7; stderr %q", code, errOut)
	}
	if out != "out\npiped\n" || errOut != "err\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	var req container.ExecCreateRequest
	json.Unmarshal(f.only("POST /containers/web/exec").Body, &req)
	want := container.ExecCreateRequest{
		User: "1000", Privileged: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		DetachKeys: "ctrl-a,a", Env: []string{"FILE=1", "A=1", "BERTH_TEST_EXEC=from-env"},
		WorkingDir: "/tmp", Cmd: []string{"sh", "-c", "cat"},
	}
	g, _ := json.Marshal(req)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("exec create:\n got %s\nwant %s", g, w)
	}
}

func TestExecDetached(t *testing.T) {
	f := execFake(t, "", "", 0)
	code, out, errOut := f.run("", "exec", "-d", "web", "sleep", "10")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	var req container.ExecCreateRequest
	json.Unmarshal(f.only("POST /containers/web/exec").Body, &req)
	if req.AttachStdout || req.AttachStderr || req.AttachStdin {
		t.Errorf("detached exec must not attach: %+v", req)
	}
	var start container.ExecStartRequest
	json.Unmarshal(f.only("POST /exec/"+execID+"/start").Body, &start)
	if !start.Detach {
		t.Error("start must be detached")
	}
	if len(f.requests("GET /exec/"+execID+"/json")) != 0 {
		t.Error("detached exec must not wait for the exit code")
	}
}

func TestExecErrors(t *testing.T) {
	f := newAPIFake(t)
	f.inspect("stopped", "5555", false, "")
	f.json("POST /containers/stopped/exec", 409, map[string]string{"message": "container 5555 is not running"})
	f.json("GET /containers/ghost/json", 404, map[string]string{"message": "No such container: ghost"})

	code, _, errOut := f.run("", "exec", "stopped", "ls")
	if code != 1 || errOut != "Error response from daemon: container 5555 is not running\n" {
		t.Errorf("stopped: code %d stderr %q", code, errOut)
	}
	code, _, errOut = f.run("", "exec", "ghost", "ls")
	if code != 1 || errOut != "Error response from daemon: No such container: ghost\n" {
		t.Errorf("missing: code %d stderr %q", code, errOut)
	}
	code, _, errOut = f.run("", "exec", "-it", "stopped", "sh")
	if code != 1 || errOut != "the input device is not a TTY\n" {
		t.Errorf("no tty: code %d stderr %q", code, errOut)
	}
	if n := len(f.requests("POST /containers/stopped/exec")); n != 1 {
		t.Errorf("the TTY check must come before creating the exec: %d creates", n)
	}
	code, _, errOut = f.run("", "exec", "web")
	if code != 1 || !strings.Contains(errOut, "'berth exec' requires at least 2 arguments") {
		t.Errorf("args: code %d stderr %q", code, errOut)
	}
	code, _, errOut = f.run("", "exec", "--detach-keys", "ctrl-", "web", "ls")
	if code != 1 || !strings.Contains(errOut, "invalid detach keys") {
		t.Errorf("detach keys: code %d stderr %q", code, errOut)
	}
}

func TestExecTTYResizesAndRestoresTerminal(t *testing.T) {
	p := newPty(t, 30, 90)
	f := newAPIFake(t)
	f.inspect("web", "0123", true, "")
	f.json("POST /containers/web/exec", 201, map[string]string{"Id": execID})
	f.on("POST /exec/"+execID+"/resize", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	started := make(chan struct{})
	f.on("POST /exec/"+execID+"/start", func(w http.ResponseWriter, r *http.Request) {
		hijack(w, r, true, false, func(conn net.Conn, _ []byte) {
			conn.Write([]byte("# "))
			buf := make([]byte, 3)
			n, _ := conn.Read(buf)
			conn.Write(buf[:n])
			close(started)
		})
	})
	f.json("GET /exec/"+execID+"/json", 200, map[string]any{"ID": execID, "ExitCode": 3})

	done := make(chan int, 1)
	go func() {
		done <- Main(t.Context(), []string{"-H", f.host, "exec", "-it", "web", "sh"}, Streams{In: p.slave, Out: p.slave, Err: p.slave})
	}()
	p.waitRaw(t)
	p.master.Write([]byte("ls\r"))
	select {
	case code := <-done:
		if code != 3 {
			t.Fatalf("exit code %d, want 3; terminal %q", code, p.output())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec -it did not end")
	}
	<-started
	var req container.ExecCreateRequest
	json.Unmarshal(f.only("POST /containers/web/exec").Body, &req)
	if !req.Tty || !req.AttachStdin || req.ConsoleSize == nil || *req.ConsoleSize != [2]uint{30, 90} {
		t.Errorf("exec create: tty %v stdin %v size %v", req.Tty, req.AttachStdin, req.ConsoleSize)
	}
	var sizes []string
	for _, r := range f.requests("POST /exec/" + execID + "/resize") {
		sizes = append(sizes, r.Query["h"][0]+"x"+r.Query["w"][0])
	}
	if !slices.Contains(sizes, "30x90") {
		t.Errorf("resizes %v, want 30x90", sizes)
	}
	if p.termios(t).Lflag&unix.ICANON == 0 {
		t.Error("terminal left raw")
	}
}

func TestAttachOptions(t *testing.T) {
	f := newAPIFake(t)
	f.inspect("tty", "7777", true, `,"Config":{"Tty":true,"OpenStdin":true}`)
	f.inspect("plain", "8888", true, `,"Config":{"Tty":false,"OpenStdin":true}`)
	f.inspect("stopped", "9999", false, "")
	for _, id := range []string{"7777", "8888", "9999"} {
		f.on("POST /containers/"+id+"/attach", func(w http.ResponseWriter, r *http.Request) {
			hijack(w, r, id == "7777", r.URL.Query().Get("stdin") == "1", func(conn net.Conn, stdin []byte) {
				conn.Write(frame(1, "got:"+string(stdin)))
			})
		})
	}
	for _, name := range []string{"tty", "plain", "stopped"} {
		f.json("POST /containers/"+name+"/wait", 200, map[string]any{"StatusCode": 4})
	}

	code, _, errOut := f.run("", "attach", "tty")
	if code != 1 || errOut != "the input device is not a TTY\n" {
		t.Errorf("tty from a pipe: %d %q", code, errOut)
	}
	code, _, errOut = f.run("", "attach", "--no-stdin", "--detach-keys", "ctrl-x,y", "tty")
	if code != 4 {
		t.Errorf("--no-stdin on a tty: %d %q", code, errOut)
	}
	q := f.requests("POST /containers/7777/attach")[0].Query
	if q["stdin"] != nil || q["detachKeys"][0] != "ctrl-x,y" || q["stream"][0] != "1" {
		t.Errorf("attach query %v", q)
	}
	code, out, _ := f.run("typed", "attach", "--sig-proxy=false", "plain")
	if code != 4 || out != "got:typed" {
		t.Errorf("plain with stdin: %d %q", code, out)
	}
	code, _, errOut = f.run("", "attach", "stopped")
	if code != 1 || errOut != "cannot attach to a stopped container, start it first\n" {
		t.Errorf("stopped: %d %q", code, errOut)
	}
}
