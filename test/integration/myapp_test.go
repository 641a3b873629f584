package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMyapp follows the course's "Build Our First Docker Application" with the real docker
// CLI: build examples/myapp, run it with its port published, read its API and its logs,
// stop and remove it, then run it again with test_conf.yaml mounted over its
// configuration. The fixed host ports are safe to bind: TestMain holds LockHostNetwork.
func TestMyapp(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join(repoRoot, "examples", "myapp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"7070", "5050"} {
		ln, err := net.Listen("tcp", "0.0.0.0:"+port)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("host port %s, which the course publishes, is in use: %v", port, err)
			}
			t.Skipf("host port %s, which the course publishes, is in use: %v", port, err)
		}
		ln.Close()
	}
	d := StartDaemon(t)

	start := time.Now()
	r := d.dockerBuild(t, dir, "-t", "myapp:0.1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Step 1/12 : FROM debian:bookworm AS build") || !strings.Contains(r.Stdout, "Successfully tagged myapp:0.1") {
		t.Fatalf("docker build -t myapp:0.1 examples/myapp: %s", r)
	}
	t.Logf("docker build took %s", time.Since(start).Round(time.Millisecond))
	if out := must(t, d.Docker("images", "myapp")).Stdout; !strings.Contains(out, "myapp ") || !strings.Contains(out, " 0.1 ") {
		t.Fatalf("docker images myapp: %q", out)
	}
	hist := must(t, d.Berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", "myapp:0.1")).Stdout
	for _, want := range []string{`#(nop)  CMD ["./myapp"]`, "#(nop)  ENV CONF_FILE_PATH=conf.yaml", "#(nop)  EXPOSE 7070", "#(nop) WORKDIR /app",
		"#(nop) COPY ./app/conf.yaml /app/conf.yaml", "#(nop) COPY --from=build /out/myapp /app/myapp"} {
		if !strings.Contains(hist, want) {
			t.Errorf("berth history myapp:0.1 lacks %q:\n%s", want, hist)
		}
	}
	cfg := must(t, d.Berth("inspect", "-f", "{{.Config.WorkingDir}} {{.Config.Cmd}} {{.Config.ExposedPorts}} {{.Config.Env}}", "myapp:0.1")).Stdout
	if !strings.HasPrefix(cfg, "/app [./myapp] map[7070/tcp:{}] [") || !strings.Contains(cfg, "CONF_FILE_PATH=conf.yaml") {
		t.Fatalf("image config: %q", cfg)
	}

	// docker run --name=myapp -p 7070:7070 --restart always -d myapp:0.1
	must(t, d.Docker("run", "--name=myapp", "-p", "7070:7070", "--restart", "always", "-d", "myapp:0.1"))
	if ps := must(t, d.Docker("ps")).Stdout; !strings.Contains(ps, "0.0.0.0:7070->7070/tcp") || !strings.Contains(ps, " myapp\n") || !strings.Contains(ps, `"./myapp"`) {
		t.Fatalf("docker ps: %q", ps)
	}
	getLocation(t, "http://127.0.0.1:7070/api/iot/test")
	if status := getStatus(t, "http://127.0.0.1:7070/api/iot/nowhere"); status != http.StatusNotFound {
		t.Errorf("GET /api/iot/nowhere: %d, want 404", status)
	}
	logs := must(t, d.Docker("logs", "--tail", "100", "myapp")).Stdout
	for _, want := range []string{
		"Read Configuration from file (conf.yaml): {'rest': {'api_prefix': '/api/iot', 'host': '0.0.0.0', 'port': 7070}}\nStarting HTTP RESTful API Server ...\n",
		`"GET /api/iot/test HTTP/1.1" 200 -`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("docker logs --tail 100 myapp lacks %q:\n%s", want, logs)
		}
	}
	stopAndRemove(t, d)

	// docker run --name=myapp -p 5050:5050 -v ${PWD}/test_conf.yaml:/app/conf.yaml --restart always -d myapp:0.1
	must(t, d.Docker("run", "--name=myapp", "-p", "5050:5050", "-v", filepath.Join(dir, "test_conf.yaml")+":/app/conf.yaml", "--restart", "always", "-d", "myapp:0.1"))
	if ps := must(t, d.Docker("ps")).Stdout; !strings.Contains(ps, "0.0.0.0:5050->5050/tcp") {
		t.Fatalf("docker ps: %q", ps)
	}
	getLocation(t, "http://127.0.0.1:5050/api/iot/test")
	if logs := must(t, d.Docker("logs", "--tail", "100", "myapp")).Stdout; !strings.Contains(logs, "'port': 5050}}\n") || !strings.Contains(logs, "Running on http://0.0.0.0:5050\n") {
		t.Errorf("docker logs with test_conf.yaml:\n%s", logs)
	}
	stopAndRemove(t, d)

	// A bad configuration file: a one-line error and exit status 1, not a server.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rest:\n  port: seventy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := d.Docker("run", "--rm", "-v", bad+":/app/conf.yaml", "myapp:0.1"); r.Code != 1 || !strings.Contains(r.Stderr, `myapp: conf.yaml:2: port "seventy" is not a number from 1 to 65535`) {
		t.Errorf("run with a bad conf.yaml: %s", r)
	}

	// The same with Debian's docker-compose (1.29, through docker-py): the build comes from
	// the cache, the service answers, down removes it and the project network.
	compose := func(args ...string) Result {
		t.Helper()
		bin, err := exec.LookPath("docker-compose")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("docker-compose missing (apt-get install docker-compose): %v", err)
			}
			t.Skipf("docker-compose missing (apt-get install docker-compose): %v", err)
		}
		return d.run(nil, bin, append([]string{"-f", filepath.Join(dir, "docker-compose.yml"), "-p", "myapp"}, args...), "DOCKER_HOST=unix://"+d.Sock)
	}
	if r := must(t, compose("up", "-d", "--build")); !strings.Contains(r.Stdout+r.Stderr, "Using cache") {
		t.Errorf("docker-compose up --build did not use the build cache: %s", r)
	}
	if ps := must(t, d.Docker("ps")).Stdout; !strings.Contains(ps, "0.0.0.0:7070->7070/tcp") || !strings.Contains(ps, "myapp_myapp_1") {
		t.Fatalf("docker ps after docker-compose up: %q", ps)
	}
	getLocation(t, "http://127.0.0.1:7070/api/iot/test")
	must(t, compose("down"))
	if left := must(t, d.Docker("ps", "-aq")).Stdout; left != "" {
		t.Errorf("containers left by docker-compose down: %q", left)
	}
	if nets := must(t, d.Docker("network", "ls", "--format", "{{.Name}}")).Stdout; strings.Contains(nets, "myapp_default") {
		t.Errorf("docker-compose down left its network: %q", nets)
	}

	must(t, d.Docker("rmi", "myapp:0.1"))
	if left := must(t, d.Docker("ps", "-aq")).Stdout; left != "" {
		t.Errorf("containers left: %q", left)
	}
}

// stopAndRemove runs the course's docker stop myapp && docker rm myapp; the app exits 0
// on SIGTERM (not 137 from the kill after stop's timeout), and --restart always does
// not bring it back.
func stopAndRemove(t *testing.T, d *Daemon) {
	t.Helper()
	must(t, d.Docker("stop", "myapp"))
	if st := must(t, d.Docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "myapp")).Stdout; st != "exited 0\n" {
		t.Errorf("after docker stop: %q, want exited 0", st)
	}
	must(t, d.Docker("rm", "myapp"))
}

// getLocation fetches url, retrying while the server starts, and checks the course's JSON.
func getLocation(t *testing.T, url string) {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	var err error
	for i := 0; i < 50; i++ {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s: %d %s %q (%v)", url, resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
			}
			want := map[string]any{"location_id": "test", "location_name": "test", "latitude": 0.0, "longitude": 0.0}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("GET %s: %v, want %v", url, got, want)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, err)
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
