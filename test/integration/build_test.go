package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeContext writes files (path -> content) under a new directory and returns it.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dockerBuild runs the real docker CLI's legacy builder against d in dir.
func (d *Daemon) dockerBuild(t *testing.T, dir string, args ...string) Result {
	t.Helper()
	r := d.Docker(append([]string{"build"}, append(args, dir)...)...)
	return r
}

func TestBuildCourseDockerfileAndCache(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM busybox
WORKDIR /app
COPY ./app /app
COPY requirements.txt /app/requirements.txt
RUN cat /app/requirements.txt | wc -l > /app/count
ENV GREETING=hello
EXPOSE 7070
CMD ["sh", "-c", "echo $GREETING from $(cat /app/main.txt) with $(cat /app/count) requirements"]
`,
		"app/main.txt":     "myapp",
		"requirements.txt": "flask\nrequests\n",
	})
	r := d.dockerBuild(t, dir, "-t", "myapp:0.1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Step 1/8 : FROM busybox") || !strings.Contains(r.Stdout, "Successfully tagged myapp:0.1") {
		t.Fatalf("docker build: %s", r)
	}
	if out := must(t, d.Berth("run", "--rm", "myapp:0.1")).Stdout; out != "hello from myapp with 2 requirements\n" {
		t.Fatalf("run of the built image: %q", out)
	}
	// history shows each step as the course's screenshot does.
	hist := must(t, d.Berth("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "myapp:0.1")).Stdout
	for _, want := range []string{`/bin/sh -c #(nop)  CMD ["sh" "-c" "echo $GREETING`, "/bin/sh -c #(nop)  EXPOSE 7070|0B", "/bin/sh -c #(nop)  ENV GREETING=hello|0B", "/bin/sh -c cat /app/requirements.txt | wc -l > /app/count|", "/bin/sh -c #(nop) COPY requirements.txt /app/requirements.txt|", "/bin/sh -c #(nop) WORKDIR /app|"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	cfg := must(t, d.Berth("inspect", "-f", "{{.Config.WorkingDir}} {{.Config.Env}} {{.Config.ExposedPorts}} {{.Config.Cmd}}", "myapp:0.1")).Stdout
	if !strings.Contains(cfg, "/app [") || !strings.Contains(cfg, "GREETING=hello") || !strings.Contains(cfg, "7070/tcp") {
		t.Fatalf("image config: %q", cfg)
	}

	// Second build: every step from the cache, same image.
	id1 := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Id}}", "myapp:0.1")).Stdout)
	r = d.dockerBuild(t, dir, "-t", "myapp:0.1")
	if strings.Count(r.Stdout, "Using cache") != 7 {
		t.Fatalf("cached build: %d steps cached, want 7:\n%s", strings.Count(r.Stdout, "Using cache"), r.Stdout)
	}
	if id2 := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Id}}", "myapp:0.1")).Stdout); id2 != id1 {
		t.Fatalf("cached build made another image: %s vs %s", id2, id1)
	}
	// touch changes no content: still all cached. Editing a file rebuilds from its COPY on.
	now := filepath.Join(dir, "requirements.txt")
	os.Chtimes(now, fileTime(t, now).AddDate(0, 0, 1), fileTime(t, now).AddDate(0, 0, 1))
	if r = d.dockerBuild(t, dir, "-t", "myapp:0.1"); strings.Count(r.Stdout, "Using cache") != 7 {
		t.Fatalf("after touch: %s", r.Stdout)
	}
	os.WriteFile(now, []byte("flask\nrequests\ngunicorn\n"), 0o644)
	r = d.dockerBuild(t, dir, "-t", "myapp:0.1")
	if c := strings.Count(r.Stdout, "Using cache"); c != 2 || !strings.Contains(r.Stdout, "Step 4/8 : COPY requirements.txt /app/requirements.txt\n ---> ") || strings.Contains(r.Stdout[strings.Index(r.Stdout, "Step 4/8"):], "Using cache") {
		t.Fatalf("after an edit: %d cached:\n%s", c, r.Stdout)
	}
	if out := must(t, d.Berth("run", "--rm", "myapp:0.1")).Stdout; !strings.Contains(out, "with 3 requirements") {
		t.Fatalf("rebuilt image: %q", out)
	}
	// --no-cache rebuilds every step; the cache survives a berthd restart.
	if r = d.dockerBuild(t, dir, "--no-cache", "-t", "myapp:0.1"); strings.Contains(r.Stdout, "Using cache") || r.Code != 0 {
		t.Fatalf("--no-cache: %s", r)
	}
	d.Kill()
	d.Start()
	if r = d.dockerBuild(t, dir, "-t", "myapp:0.1"); strings.Count(r.Stdout, "Using cache") != 7 {
		t.Fatalf("after a berthd restart: %s", r.Stdout)
	}
}

// The course's first Dockerfile ("Creating a New Image"), on debian:bookworm instead of
// ubuntu:latest, with python3 from Debian's mirror (through NAT); pip3 needs PyPI, which is
// not reachable here, so the requirements step reads the file with python3 instead.
func TestBuildCourseDebianDockerfile(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `# Use an official base image
FROM debian:bookworm

# Set the working directory
WORKDIR /app

# Copy Application Files & Requirements to /app
COPY ./app /app
COPY requirements.txt /app/requirements.txt

# Install dependencies
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*

# Install Python Application Requirements
RUN python3 -c "print(len(open('requirements.txt').read().split()))" > /app/requirements.count

# Define the default command
CMD ["python3", "app.py"]
`,
		"app/app.py":       "print('hello from app.py with', open('requirements.count').read().strip(), 'requirements')\n",
		"requirements.txt": "flask\nflask-restful\npyyaml\n",
	})
	must(t, d.Berth("build", "-t", "course:0.1", dir))
	if out := must(t, d.Berth("run", "--rm", "course:0.1")).Stdout; out != "hello from app.py with 3 requirements\n" {
		t.Fatalf("run of the course's image: %q", out)
	}
	hist := must(t, d.Berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", "course:0.1")).Stdout
	if !strings.Contains(hist, "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends python3") || !strings.Contains(hist, `CMD ["python3" "app.py"]`) {
		t.Fatalf("history:\n%s", hist)
	}
	r := must(t, d.Berth("build", "--progress=plain", "-t", "course:0.1", dir))
	if n := strings.Count(r.Stdout, "Using cache"); n != 6 {
		t.Fatalf("second build: %d steps cached, want 6:\n%s", n, r.Stdout)
	}
}

func fileTime(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestBuildInstructionOrderAndArgs(t *testing.T) {
	d := StartDaemon(t)
	// Different instruction text, different key: the course's figlet/cowsay example.
	a := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo figlet cowsay > /pkgs\n"})
	b := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo cowsay figlet > /pkgs\n"})
	// DOCKER_BUILDKIT=0 takes the same legacy path as plain docker build.
	docker, _ := exec.LookPath("docker")
	if r := d.run(nil, docker, []string{"build", "-t", "order:a", a}, "DOCKER_HOST=unix://"+d.Sock, "DOCKER_BUILDKIT=0", "DOCKER_CONFIG="+filepath.Join(d.DataRoot, "docker-config")); r.Code != 0 || !strings.Contains(r.Stdout, "Successfully tagged order:a") {
		t.Fatalf("DOCKER_BUILDKIT=0 docker build: %s", r)
	}
	if r := d.dockerBuild(t, b, "-t", "order:b"); strings.Contains(r.Stdout, "Using cache") {
		t.Fatalf("reordered packages hit the cache: %s", r.Stdout)
	}
	// ARG with a default, overridden by --build-arg; a different value is a different key.
	args := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nARG WHO=world\nRUN echo hello $WHO > /greeting\nCMD [\"cat\", \"/greeting\"]\n"})
	must(t, d.dockerBuild(t, args, "-t", "args:1"))
	if out := must(t, d.Berth("run", "--rm", "args:1")).Stdout; out != "hello world\n" {
		t.Fatalf("ARG default: %q", out)
	}
	r := d.dockerBuild(t, args, "--build-arg", "WHO=berth", "--build-arg", "UNUSED=1", "-t", "args:2")
	if strings.Count(r.Stdout, "Using cache") != 0 && strings.Contains(r.Stdout, "RUN echo hello $WHO > /greeting\n ---> Using cache") {
		t.Fatalf("another --build-arg value hit the cache: %s", r.Stdout)
	}
	if !strings.Contains(r.Stdout+r.Stderr, "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no warning for an unused build arg: %s", r)
	}
	if out := must(t, d.Berth("run", "--rm", "args:2")).Stdout; out != "hello berth\n" {
		t.Fatalf("--build-arg: %q", out)
	}
	// SHELL, HEALTHCHECK and ONBUILD are kept in the image's config, and SHELL applies to
	// RUN in images built FROM it.
	meta := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nHEALTHCHECK --interval=5s CMD true\nONBUILD RUN echo child > /onbuild\n"})
	must(t, d.dockerBuild(t, meta, "-t", "meta:1"))
	got := must(t, d.Berth("image", "inspect", "-f", "{{.Config.Shell}} {{.Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{.Config.OnBuild}}", "meta:1")).Stdout
	if got != "[/bin/sh -ec] [CMD-SHELL true] 5s [RUN echo child > /onbuild]\n" {
		t.Fatalf("image config: %q", got)
	}
	// A build FROM it runs the trigger first, and does not pass it on.
	child := writeContext(t, map[string]string{"Dockerfile": "FROM meta:1\nRUN cat /onbuild\n"})
	if r := must(t, d.dockerBuild(t, child, "-t", "meta:child")); !strings.Contains(r.Stdout, "child\n") {
		t.Fatalf("ONBUILD trigger: %s", r.Stdout)
	}
	if got := must(t, d.Berth("image", "inspect", "-f", "{{.Config.OnBuild}}", "meta:child")).Stdout; got != "[]\n" {
		t.Fatalf("trigger inherited: %q", got)
	}
	// ENTRYPOINT and CMD together; run-time arguments replace CMD.
	ep := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nENTRYPOINT [\"echo\", \"entry\"]\nCMD [\"default\"]\n"})
	must(t, d.dockerBuild(t, ep, "-t", "ep:1"))
	if out := must(t, d.Berth("run", "--rm", "ep:1")).Stdout; out != "entry default\n" {
		t.Fatalf("ENTRYPOINT+CMD: %q", out)
	}
	if out := must(t, d.Berth("run", "--rm", "ep:1", "override")).Stdout; out != "entry override\n" {
		t.Fatalf("run-time CMD: %q", out)
	}
	if out := must(t, d.Berth("run", "--rm", "--entrypoint", "echo", "ep:1", "replaced")).Stdout; out != "replaced\n" {
		t.Fatalf("--entrypoint: %q", out)
	}
}

func TestBuildMultiStageAndAdd(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM busybox AS build
RUN mkdir /out && echo built > /out/artifact
FROM busybox AS never
RUN exit 7
FROM busybox
COPY --from=build /out/artifact /artifact
COPY --chmod=600 --chown=1000:1000 secret.txt /secret.txt
COPY dir/*.txt /globbed/
CMD ["cat", "/artifact"]
`,
		"secret.txt": "s",
		"dir/a.txt":  "a",
		"dir/b.txt":  "b",
		"dir/c.md":   "c",
	})
	r := d.dockerBuild(t, dir, "-t", "ms:1")
	if r.Code != 0 || strings.Contains(r.Stdout, "exit 7") {
		t.Fatalf("multi-stage (the unneeded stage must be skipped): %s", r)
	}
	out := must(t, d.Berth("run", "--rm", "ms:1", "sh", "-c", "cat /artifact; stat -c '%a %u:%g' /secret.txt; ls /globbed")).Stdout
	if out != "built\n600 1000:1000\na.txt\nb.txt\n" {
		t.Fatalf("multi-stage result: %q", out)
	}
	// --target stops at a stage.
	must(t, d.dockerBuild(t, dir, "--target", "build", "-t", "ms:build"))
	if out := must(t, d.Berth("run", "--rm", "ms:build", "cat", "/out/artifact")).Stdout; out != "built\n" {
		t.Fatalf("--target: %q", out)
	}
}

// COPY, ADD and WORKDIR write their layer straight from the context: paths must still be
// resolved in the image as dockerd resolves them in a container.
func TestBuildCopyResolvesInImage(t *testing.T) {
	d := StartDaemon(t)
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Name: "inner/x.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("x\n"))
	tw.Close()
	dir := writeContext(t, map[string]string{
		"Dockerfile": `FROM busybox
RUN mkdir -p /real/sub && ln -s /real /link && echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1235:' >> /etc/group
COPY one.txt /link/one.txt
COPY tree/ /link/sub/
ADD bundle.tar /link/
COPY one.txt /tmp/one.txt
WORKDIR /tmp/work
COPY --chown=app tree/ /owned/
COPY --chown=nobody:nobody one.txt /nobody.txt
ADD --chown=app bundle.tar /owned-tar/
WORKDIR /app
COPY . /app
`,
		"one.txt":    "one\n",
		"tree/a.txt": "a\n",
		"bundle.tar": tarBuf.String(),
	})
	must(t, d.Berth("build", "-q", "-t", "paths:1", dir))
	out := must(t, d.Berth("run", "--rm", "paths:1", "sh", "-c",
		"readlink /link; cat /real/one.txt /real/sub/a.txt /real/inner/x.txt; stat -c '%a %n' /tmp /tmp/work /app /app/tree; stat -c '%u:%g %n' /owned /owned/a.txt /nobody.txt /owned-tar/inner/x.txt /app/one.txt")).Stdout
	want := "/real\none\na\nx\n1777 /tmp\n755 /tmp/work\n755 /app\n755 /app/tree\n" +
		"1234:1235 /owned\n1234:1235 /owned/a.txt\n65534:65534 /nobody.txt\n1234:1235 /owned-tar/inner/x.txt\n0:0 /app/one.txt\n"
	if out != want {
		t.Fatalf("paths in the image:\n%s\nwant:\n%s", out, want)
	}
	images := must(t, d.Berth("images", "-q")).Stdout
	for _, c := range []struct{ df, msg string }{
		{"FROM busybox\nCOPY out /x\n", "file not found in build context"}, // a symlink out of the context
		{"FROM busybox\nCOPY --chown=ghost one.txt /x\n", "can't find uid for user ghost: no such user: ghost"},
		{"FROM busybox\nCOPY --chown=nobody:ghosts one.txt /x\n", "can't find gid for group ghosts: no such group: ghosts"},
		{"FROM busybox\nCOPY --chown=a:b:c one.txt /x\n", "invalid chown string format: a:b:c"},
		{"FROM busybox\nCOPY .wh.one /x/\n", "reserved for layer whiteouts"},
		{"FROM busybox\nCOPY one.txt /etc/passwd/one.txt\n", "mkdir /etc/passwd: not a directory"},
	} {
		dir := writeContext(t, map[string]string{"Dockerfile": c.df, "one.txt": "1", ".wh.one": "w"})
		if err := os.Symlink("/etc/hostname", filepath.Join(dir, "out")); err != nil {
			t.Fatal(err)
		}
		if r := d.Berth("build", "-t", "bad:1", dir); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, c.msg) {
			t.Errorf("%q: want failure with %q, got %s", c.df, c.msg, r)
		}
	}
	if got := must(t, d.Berth("images", "-q")).Stdout; got != images {
		t.Errorf("images listed after failed builds: %q, want %q", got, images)
	}
}

// Stages that do not depend on each other run at the same time: stages a and b each
// wait for the other's mark in a shared cache mount, which a one-after-the-other build
// never gets past. Their output still comes in the Dockerfile's order.
func TestBuildParallelStages(t *testing.T) {
	d := StartDaemon(t)
	id := fmt.Sprintf("rendezvous-%d", time.Now().UnixNano())
	wait := func(me, other string) string {
		return "RUN --mount=type=cache,id=" + id + ",target=/rv touch /rv/" + me +
			" && i=0; until [ -e /rv/" + other + " ]; do i=$((i+1)); [ $i -lt 300 ] || exit 9; sleep 0.1; done; echo " + me + "-saw-" + other + " > /out\n"
	}
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox AS a\n" + wait("a", "b") +
			"FROM busybox AS b\n" + wait("b", "a") +
			"FROM busybox\nCOPY --from=a /out /a\nCOPY --from=b /out /b\nCMD [\"cat\", \"/a\", \"/b\"]\n",
	})
	r := must(t, d.dockerBuild(t, dir, "-t", "par:1"))
	if n := strings.Count(r.Stdout, "Downloaded newer image for busybox"); n != 1 {
		t.Errorf("busybox pulled %d times for three stages FROM it, want once:\n%s", n, r.Stdout)
	}
	if out := must(t, d.Berth("run", "--rm", "par:1")).Stdout; out != "a-saw-b\nb-saw-a\n" {
		t.Fatalf("parallel stages: %q", out)
	}
	steps := regexp.MustCompile(`(?m)^Step (\d+)/8 : `).FindAllStringSubmatch(r.Stdout, -1)
	var got []string
	for _, m := range steps {
		got = append(got, m[1])
	}
	if strings.Join(got, ",") != "1,2,3,4,5,6,7,8" {
		t.Fatalf("steps out of order: %v\n%s", got, r.Stdout)
	}

	// The first failure stops the stages still running and is the build's error.
	dir = writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox AS slow\nRUN sleep 30 && echo slow-finished\n" +
			"FROM busybox AS bad\nRUN echo bad-output && exit 3\n" +
			"FROM busybox\nCOPY --from=slow /etc/hostname /x\nCOPY --from=bad /etc/hostname /y\n",
	})
	r = d.dockerBuild(t, dir, "-t", "par:bad")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "returned a non-zero code: 3") || !strings.Contains(r.Stdout, "bad-output") {
		t.Fatalf("failing stage: %s", r)
	}
	if regexp.MustCompile(`(?m)^slow-finished$`).MatchString(r.Stdout) {
		t.Fatalf("the other stage ran on after the failure: %s", r.Stdout)
	}
	if left := must(t, d.Berth("ps", "-aq")).Stdout; left != "" {
		t.Errorf("build containers left: %q", left)
	}
	if r := d.Berth("image", "inspect", "par:bad"); r.Code == 0 {
		t.Errorf("a failed build tagged its image")
	}
}

func TestBuildDirectivesLinkAndPruneUntil(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo joined `\n  line > /x\nCOPY --link f.txt /f.txt\n",
		"f.txt":      "f\n",
	})
	must(t, d.Berth("build", "-q", "-t", "dir:1", dir))
	if out := must(t, d.Berth("run", "--rm", "dir:1", "cat", "/x", "/f.txt")).Stdout; out != "joined line\nf\n" {
		t.Fatalf("escape directive or COPY --link: %q", out)
	}
	cached := func() int {
		return strings.Count(must(t, d.Berth("build", "--progress=plain", "-t", "dir:1", dir)).Stdout, "Using cache")
	}
	// until=24h keeps what is younger than a day.
	must(t, d.Berth("builder", "prune", "-f", "--filter", "until=24h"))
	if n := cached(); n != 2 {
		t.Fatalf("after builder prune --filter until=24h: %d steps cached, want 2", n)
	}
	must(t, d.Berth("builder", "prune", "-f"))
	if n := cached(); n != 0 {
		t.Fatalf("after builder prune: %d steps cached, want 0", n)
	}
}

// FROM uses the local image; --pull fetches the registry's again.
func TestBuildPull(t *testing.T) {
	d := StartDaemon(t)
	fake := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN touch /local-marker\n"})
	must(t, d.Berth("build", "-q", "-t", "busybox:latest", fake))
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nCMD [\"ls\", \"/\"]\n"})
	must(t, d.Berth("build", "-q", "-t", "pulled:1", dir))
	if out := must(t, d.Berth("run", "--rm", "pulled:1")).Stdout; !strings.Contains(out, "local-marker") {
		t.Fatalf("FROM without --pull did not use the local busybox: %q", out)
	}
	must(t, d.Berth("build", "-q", "--pull", "-t", "pulled:2", dir))
	if out := must(t, d.Berth("run", "--rm", "pulled:2")).Stdout; strings.Contains(out, "local-marker") || !strings.Contains(out, "bin") {
		t.Fatalf("FROM with --pull kept the local busybox: %q", out)
	}
}

func TestBuildCopyHeredoc(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nENV NAME=world\n" +
			"COPY <<EOF /etc/greeting\nhello $NAME \"quoted\"\nEOF\n" +
			"COPY <<'EOF' /app/\nkept $NAME\nEOF\n",
	})
	must(t, d.Berth("build", "-q", "-t", "heredoc:1", dir))
	out := must(t, d.Berth("run", "--rm", "heredoc:1", "sh", "-c", "cat /etc/greeting /app/EOF; stat -c %a /etc/greeting")).Stdout
	if out != "hello world \"quoted\"\nkept $NAME\n644\n" {
		t.Fatalf("COPY heredocs: %q", out)
	}
}

// Build step images are the built image's untagged parents: rmi and image prune remove
// them with it (rmi --no-prune keeps them), and none can go while an image is built on it.
func TestBuildStepImagesGoWithTheImage(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	before := must(t, d.Berth("images", "-aq")).Stdout
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\nENV X=1\n"})
	must(t, d.Berth("build", "-q", "-t", "chain:1", dir))
	parent := strings.TrimSpace(must(t, d.Docker("image", "inspect", "-f", "{{.Parent}}", "chain:1")).Stdout)
	if !strings.HasPrefix(parent, "sha256:") {
		t.Fatalf("inspect .Parent of a built image: %q", parent)
	}
	if r := d.Docker("rmi", parent); r.Code == 0 || !strings.Contains(r.Stderr, "image has dependent child images") {
		t.Fatalf("rmi of an image another is built on: %s", r)
	}
	r := must(t, d.Docker("rmi", "chain:1"))
	if !strings.Contains(r.Stdout, "Untagged: chain:1") || !strings.Contains(r.Stdout, "Deleted: "+parent) {
		t.Fatalf("rmi chain:1: %s", r)
	}
	if after := must(t, d.Berth("images", "-aq")).Stdout; after != before {
		t.Fatalf("step images left after rmi: %q, want %q", after, before)
	}

	must(t, d.Berth("build", "-q", "-t", "chain:2", dir))
	parent = strings.TrimSpace(must(t, d.Berth("image", "inspect", "-f", "{{.Parent}}", "chain:2")).Stdout)
	must(t, d.Berth("rmi", "--no-prune", "chain:2"))
	if all := must(t, d.Berth("images", "-aq", "--no-trunc")).Stdout; !strings.Contains(all, parent) {
		t.Fatalf("rmi --no-prune removed the parent %s: %q", parent, all)
	}
	must(t, d.Berth("image", "prune", "-f"))
	if after := must(t, d.Berth("images", "-aq")).Stdout; after != before {
		t.Fatalf("image prune left step images: %q, want %q", after, before)
	}
}

// A RUN step's layer is the step container's writable layer itself: deletions and
// replaced directories survive (in the snapshot and in the saved blob), and the runtime's
// mount points (busybox has no /etc/hosts) are in neither.
func TestBuildRunLayerIsTheContainersLayer(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN rm /bin/ls && mkdir -p /d/sub && echo x > /d/sub/f\n" +
		"RUN rm -rf /d && mkdir /d && echo y > /d/g\n"})
	must(t, d.Berth("build", "-q", "-t", "runlayer:1", dir))
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		if m, _ := filepath.Glob(filepath.Join(d.DataRoot, "snapshots", "overlay", "*", "fs", "etc", name)); len(m) > 0 {
			t.Errorf("a layer snapshot holds the runtime's mount point: %v", m)
		}
	}
	out := must(t, d.Berth("run", "--rm", "runlayer:1", "sh", "-c", "test -e /bin/ls && echo ls-still-there; test -e /d/sub && echo sub-still-there; ls /d; cat /d/g")).Stdout
	if out != "g\ny\n" {
		t.Fatalf("image from the RUN layers: %q", out)
	}
	file := filepath.Join(t.TempDir(), "runlayer.tar")
	must(t, d.Berth("save", "-o", file, "runlayer:1"))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	files := tarNames(t, data)
	var entries []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &entries); err != nil || len(entries) != 1 || len(entries[0].Layers) < 3 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	var names []string
	for _, l := range entries[0].Layers[len(entries[0].Layers)-2:] {
		zr, err := gzip.NewReader(bytes.NewReader(files[l]))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			names = append(names, hdr.Name)
		}
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"bin/.wh.ls", "d/sub/f", "d/.wh..wh..opq", "d/g"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("the RUN layers' blobs lack %s: %s", want, got)
		}
	}
	if strings.Contains(got, "etc/hosts") || strings.Contains(got, "dev/") {
		t.Errorf("the RUN layers' blobs hold the runtime's mount points: %s", got)
	}
}

// A build dies with berthd; the step container it was running is removed when berthd
// starts again (killed first), and building again works.
func TestBuildStepContainerGoneAfterBerthdCrash(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN sleep 60\n"})
	done := make(chan Result, 1)
	go func() { done <- d.Berth("build", "-t", "crash:1", dir) }()
	running := ""
	for i := 0; i < 200 && running == ""; i++ {
		time.Sleep(50 * time.Millisecond)
		running = strings.TrimSpace(d.Berth("ps", "-q").Stdout)
	}
	if running == "" {
		t.Fatal("the RUN step's container never ran")
	}
	d.Kill()
	if r := <-done; r.Code == 0 {
		t.Fatalf("the build went on without berthd: %s", r)
	}
	d.Start()
	left := "?"
	for i := 0; i < 200 && left != ""; i++ {
		left = strings.TrimSpace(must(t, d.Berth("ps", "-aq")).Stdout)
		if left != "" {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if left != "" {
		t.Fatalf("build step container left after berthd restarted: %q\n%s", left, must(t, d.Berth("ps", "-a")).Stdout)
	}
	if r := d.Berth("image", "inspect", "crash:1"); r.Code == 0 {
		t.Error("the interrupted build was tagged")
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo again > /again\n"), 0o644)
	must(t, d.Berth("build", "-q", "-t", "crash:2", dir))
	if out := must(t, d.Berth("run", "--rm", "crash:2", "cat", "/again")).Stdout; out != "again\n" {
		t.Fatalf("build after the restart: %q", out)
	}
}

func TestBuildBadInput(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	images := must(t, d.Berth("images", "-q")).Stdout
	cases := []struct {
		files map[string]string
		args  []string
		msg   string
	}{
		{map[string]string{"Dockerfile": "FROM busybox\nFROBNICATE x\n"}, nil, "unknown instruction: FROBNICATE"},
		{map[string]string{"Dockerfile": "RUN true\n"}, nil, "no build stage"},
		{map[string]string{"Dockerfile": "FROM busybox\nCOPY missing.txt /x\n"}, nil, "missing.txt"},
		{map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing-output && exit 3\n"}, nil, "returned a non-zero code: 3"},
	}
	for _, c := range cases {
		dir := writeContext(t, c.files)
		r := d.dockerBuild(t, dir, append(c.args, "-t", "bad:1")...)
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, c.msg) {
			t.Errorf("%v: want failure with %q, got %s", c.files, c.msg, r)
		}
		if c.msg == "returned a non-zero code: 3" && !strings.Contains(r.Stdout, "failing-output") {
			t.Errorf("a failing RUN's output is not shown: %s", r)
		}
	}
	if r := d.Berth("image", "inspect", "bad:1"); r.Code == 0 {
		t.Errorf("a failed build tagged its image: %s", r)
	}
	if got := must(t, d.Berth("images", "-q")).Stdout; got != images {
		t.Errorf("images listed after failed builds: %q, want %q", got, images)
	}
	if left := must(t, d.Berth("ps", "-aq")).Stdout; left != "" {
		t.Errorf("build containers left: %q", left)
	}
}

func TestBuildRunMountsHeredocAddAndPrune(t *testing.T) {
	d := StartDaemon(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "remote file\n") }))
	defer srv.Close()
	sum := sha256.Sum256([]byte("remote file\n"))
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Name: "inner/x.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("x\n"))
	tw.Close()
	df := "FROM busybox\n" +
		"RUN --mount=type=cache,target=/cache echo run >> /cache/runs && cat /cache/runs | wc -l > /cache-count\n" +
		"RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /copied\n" +
		"RUN <<EOF\necho from heredoc > /heredoc\necho second line >> /heredoc\nEOF\n" +
		"ADD --checksum=sha256:" + hex.EncodeToString(sum[:]) + " " + srv.URL + "/remote.txt /remote.txt\n" +
		"ADD bundle.tar /unpacked/\n"
	dir := writeContext(t, map[string]string{
		"Dockerfile": df + "COPY ../../etc/passwd /escaped\n",
		"data.txt":   "bound\n",
		"bundle.tar": tarBuf.String(),
	})
	// ../../etc/passwd resolves inside the context: not found there.
	if r := d.dockerBuild(t, dir, "-t", "mounts:1"); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "etc/passwd") {
		t.Fatalf("COPY ../../etc/passwd escaped the context or failed otherwise: %s", r)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644)
	must(t, d.dockerBuild(t, dir, "-t", "mounts:1"))
	out := must(t, d.Berth("run", "--rm", "mounts:1", "sh", "-c", "cat /cache-count /copied /heredoc /remote.txt /unpacked/inner/x.txt; stat -c %a /remote.txt; ls -A /cache 2>/dev/null; echo END")).Stdout
	want := "1\nbound\nfrom heredoc\nsecond line\nremote file\nx\n600\n"
	if out != want+"END\n" {
		t.Fatalf("result: %q, want %q and nothing of the cache mount in the image", out, want+"END\n")
	}
	// A bind-mounted context file is part of the RUN's cache key: changed, the RUN runs again.
	os.WriteFile(filepath.Join(dir, "data.txt"), []byte("bound again\n"), 0o644)
	must(t, d.dockerBuild(t, dir, "-t", "mounts:1"))
	if out := must(t, d.Berth("run", "--rm", "mounts:1", "cat", "/copied")).Stdout; out != "bound again\n" {
		t.Fatalf("RUN with a changed bind-mounted file came from the cache: %q", out)
	}
	// The cache mount persists across builds (a --no-cache rebuild sees the first run's file).
	must(t, d.dockerBuild(t, dir, "--no-cache", "-t", "mounts:2"))
	if out := must(t, d.Berth("run", "--rm", "mounts:2", "cat", "/cache-count")).Stdout; out != "2\n" {
		t.Fatalf("cache mount across builds: %q", out)
	}
	// A wrong checksum fails the build.
	bad := strings.Replace(df, hex.EncodeToString(sum[:]), strings.Repeat("0", 64), 1)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(bad), 0o644)
	if r := d.dockerBuild(t, dir, "-t", "mounts:bad"); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "digest mismatch") {
		t.Fatalf("ADD with a wrong checksum: %s", r)
	}
	// builder prune frees the cache: the next build runs every step again.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644)
	if resp, body := d.api(t, "POST", "/build/prune?all=1", nil); resp.StatusCode != 200 || !strings.Contains(string(body), "CachesDeleted") {
		t.Fatalf("POST /build/prune: %d %s", resp.StatusCode, body)
	}
	if r := must(t, d.dockerBuild(t, dir, "-t", "mounts:3")); strings.Contains(r.Stdout, "Using cache") {
		t.Fatalf("cache still used after builder prune: %s", r.Stdout)
	}
}

func TestBuildBerthCLI(t *testing.T) {
	d := StartDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"-A\", \"/ctx\"]\n",
		".dockerignore": "secret.txt\nlogs/\n.dockerignore\nDockerfile\n",
		"keep.txt":      "k",
		"secret.txt":    "s",
		"logs/a.log":    "l",
	})
	iid := filepath.Join(t.TempDir(), "iid")
	r := must(t, d.Berth("build", "-q", "--iidfile", iid, "-t", "cli:1", "-t", "cli:2", dir))
	id := strings.TrimSpace(r.Stdout)
	if !strings.HasPrefix(id, "sha256:") || readFile(t, iid) != id {
		t.Fatalf("-q printed %q, --iidfile has %q", id, readFile(t, iid))
	}
	// .dockerignore: neither the ignored files nor the Dockerfile and .dockerignore get in.
	if out := must(t, d.Berth("run", "--rm", "cli:2")).Stdout; out != "keep.txt\n" {
		t.Fatalf("context in the image: %q", out)
	}
	// -f outside the context.
	other := writeContext(t, map[string]string{"Other.Dockerfile": "FROM busybox\nCOPY keep.txt /k\n"})
	must(t, d.Berth("build", "-f", filepath.Join(other, "Other.Dockerfile"), "-t", "cli:3", dir))
	if out := must(t, d.Berth("run", "--rm", "cli:3", "cat", "/k")).Stdout; out != "k" {
		t.Fatalf("-f outside the context: %q", out)
	}
	// A failing RUN: its output, its exit code, no tag.
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo about to fail && exit 3\n"})
	r = d.Berth("build", "-t", "cli:bad", bad)
	if r.Code != 3 || !strings.Contains(r.Stdout, "about to fail") || !strings.Contains(r.Stderr, "The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3") {
		t.Fatalf("failing build: %s", r)
	}
	if r := d.Berth("build", "-f", filepath.Join(dir, "nope"), dir); r.Code == 0 || !strings.Contains(r.Stderr, "unable to prepare context") {
		t.Fatalf("-f that does not exist: %s", r)
	}
	// --progress=tty ends each step with its time; plain (and a pipe with auto) does not.
	if out := must(t, d.Berth("build", "--progress=tty", "-t", "cli:4", dir)).Stdout; !regexp.MustCompile(`(?m)^ ---> \d+\.\d\ds$`).MatchString(out) {
		t.Fatalf("--progress=tty: %q", out)
	}
	if out := must(t, d.Berth("build", "--progress=plain", "-t", "cli:4", dir)).Stdout; regexp.MustCompile(`(?m)^ ---> \d+\.\d\ds$`).MatchString(out) {
		t.Fatalf("--progress=plain has timings: %q", out)
	}
	// A RUN that changes no file adds history but no layer.
	nl := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\nRUN touch /x\n"})
	must(t, d.Berth("build", "-q", "-t", "nolayer:1", nl))
	layers := must(t, d.Berth("image", "inspect", "-f", "{{len .RootFS.Layers}}", "busybox", "nolayer:1")).Stdout
	if f := strings.Fields(layers); len(f) != 2 || atoi(t, f[1]) != atoi(t, f[0])+1 {
		t.Fatalf("layers of busybox and of the build: %q (want one more, for RUN touch only)", layers)
	}
	if hist := must(t, d.Berth("history", "--format", "{{.CreatedBy}}|{{.Size}}", "nolayer:1")).Stdout; !strings.Contains(hist, "/bin/sh -c true|0B") {
		t.Fatalf("history of RUN true: %q", hist)
	}
	// builder prune -af empties the cache.
	if r := must(t, d.Berth("builder", "prune", "-af")); !strings.Contains(r.Stdout, "Total reclaimed space:") {
		t.Fatalf("builder prune: %s", r)
	}
	if r := must(t, d.Berth("build", "-t", "cli:1", dir)); strings.Contains(r.Stdout, "Using cache") {
		t.Fatalf("cache used after builder prune: %s", r.Stdout)
	}
}
