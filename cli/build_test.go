package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-units"
	"golang.org/x/sys/unix"
)

// buildStream answers POST /build with JSON lines.
func buildStream(lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		for _, l := range lines {
			io.WriteString(w, l+"\r\n")
		}
	}
}

// sendingLine is docker's line for a context of n bytes on a non-terminal.
func sendingLine(n int) string {
	return "Sending build context to Docker daemon " + padLeft(units.HumanSize(float64(n)), 8) + "\r\r\n"
}

func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat(" ", n-len(s)) + s
}

func TestBuildRequest(t *testing.T) {
	t.Setenv("BERTH_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("FROMENV", "env value")
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "")
	f := newAPIFake(t)
	f.on("POST /build", buildStream(
		`{"stream":"Step 1/2 : FROM busybox\n"}`,
		`{"stream":" ---\u003e Using cache\n"}`,
		`{"stream":" ---\u003e 1a2b3c4d5e6f\n"}`,
		`{"stream":"Step 2/2 : RUN echo hi\n"}`,
		`{"stream":"hi\n"}`,
		`{"aux":{"ID":"sha256:1a2b3c4d5e6f7a8b"}}`,
		`{"stream":"Successfully built 1a2b3c4d5e6f\n"}`,
		`{"stream":"Successfully tagged app:1\n"}`,
	))
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo hi\n", ".dockerignore": "*.log\n", "x.log": "x", "src/main.go": "package main\n"})
	iid := filepath.Join(t.TempDir(), "iid")
	os.WriteFile(iid, []byte("stale"), 0o644)

	code, out, errOut := f.run("", "build", "-t", "app:1", "--tag", "registry.local:5000/team/app", "--build-arg", "X=1", "--build-arg", "FROMENV",
		"--build-arg", "UNSET_BERTH_TEST_ARG", "--build-arg", "EMPTY=", "--label", "l=v", "--label", "flag", "--target", "final", "--no-cache", "--pull",
		"--platform", "arm64", "--network", "host", "--add-host", "db=10.0.0.2", "--iidfile", iid, "--progress", "plain", "--force-rm", dir)
	if code != 0 || errOut != "" {
		t.Fatalf("build: %d %q %q", code, out, errOut)
	}
	r := f.only("POST /build")
	want := sendingLine(len(r.Body)) + "Step 1/2 : FROM busybox\n ---> Using cache\n ---> 1a2b3c4d5e6f\nStep 2/2 : RUN echo hi\nhi\n" +
		"Successfully built 1a2b3c4d5e6f\nSuccessfully tagged app:1\n"
	if out != want {
		t.Errorf("output\n got %q\nwant %q", out, want)
	}
	q := r.Query
	wantQuery := map[string][]string{
		"t":           {"app:1", "registry.local:5000/team/app"},
		"dockerfile":  {"Dockerfile"},
		"buildargs":   {`{"EMPTY":"","FROMENV":"env value","UNSET_BERTH_TEST_ARG":null,"X":"1"}`},
		"labels":      {`{"flag":"","l":"v"}`},
		"target":      {"final"},
		"nocache":     {"1"},
		"pull":        {"1"},
		"forcerm":     {"1"},
		"platform":    {"linux/arm64"},
		"networkmode": {"host"},
		"extrahosts":  {"db:10.0.0.2"},
		"version":     {"1"},
	}
	if !reflect.DeepEqual(map[string][]string(q), wantQuery) {
		t.Errorf("query\n got %v\nwant %v", q, wantQuery)
	}
	names, m := readTar(t, bytes.NewReader(r.Body))
	if !slices.Equal(names, []string{".dockerignore", "Dockerfile", "src/", "src/main.go"}) || m["src/main.go"].content != "package main\n" {
		t.Errorf("context entries %q", names)
	}
	if b, _ := os.ReadFile(iid); string(b) != "sha256:1a2b3c4d5e6f7a8b" {
		t.Errorf("iidfile %q", b)
	}

	// Defaults: no optional parameter is sent, and rm=0 only with --rm=false.
	f.reqs = nil
	if code, _, errOut := f.run("", "image", "build", "--rm=false", dir); code != 0 {
		t.Fatalf("image build: %d %q", code, errOut)
	}
	if q := f.only("POST /build").Query; !reflect.DeepEqual(map[string][]string(q), map[string][]string{"dockerfile": {"Dockerfile"}, "rm": {"0"}, "version": {"1"}}) {
		t.Errorf("default query %v", q)
	}
}

func TestBuildQuietAndIIDFile(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /build", buildStream(`{"aux":{"ID":"sha256:abc123"}}`, `{"stream":"sha256:abc123\n"}`))
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\n"})
	iid := filepath.Join(t.TempDir(), "iid")
	code, out, errOut := f.run("", "build", "-q", "--iidfile", iid, dir)
	if code != 0 || out != "sha256:abc123\n" || errOut != "" {
		t.Errorf("quiet: %d %q %q", code, out, errOut)
	}
	if q := f.only("POST /build").Query["q"]; len(q) != 1 || q[0] != "1" {
		t.Errorf("q = %v", q)
	}
	if b, _ := os.ReadFile(iid); string(b) != "sha256:abc123" {
		t.Errorf("iidfile %q", b)
	}

	// A daemon that names the image only in aux still gets it printed.
	f.on("POST /build", buildStream(`{"aux":{"ID":"sha256:def"}}`))
	if code, out, _ := f.run("", "build", "-q", dir); code != 0 || out != "sha256:def\n" {
		t.Errorf("quiet aux only: %d %q", code, out)
	}

	// No image ID: the iidfile cannot be written, and the stale one is gone.
	os.WriteFile(iid, []byte("stale"), 0o644)
	f.on("POST /build", buildStream(`{"stream":"Successfully built\n"}`))
	code, _, errOut = f.run("", "build", "--iidfile", iid, dir)
	if code != 1 || errOut != "server did not provide an image ID. Cannot write "+iid+"\n" {
		t.Errorf("no ID: %d %q", code, errOut)
	}
	if _, err := os.Stat(iid); !os.IsNotExist(err) {
		t.Errorf("stale iidfile left: %v", err)
	}
}

func TestBuildFailure(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /build", buildStream(
		`{"stream":"Step 1/2 : FROM busybox\n"}`,
		`{"stream":"Step 2/2 : RUN exit 3\n"}`,
		`{"stream":" ---\u003e Running in 0123456789ab\n"}`,
		`{"errorDetail":{"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3","code":3},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}`,
	))
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN exit 3\n"})
	code, out, errOut := f.run("", "build", dir)
	if code != 3 || !strings.HasSuffix(out, "Step 2/2 : RUN exit 3\n ---> Running in 0123456789ab\n") ||
		errOut != "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n" {
		t.Errorf("failed RUN: %d %q %q", code, out, errOut)
	}

	// Quiet: the log the daemon sent back goes to stderr before the error.
	code, out, errOut = f.run("", "build", "-q", dir)
	if code != 3 || out != "" || !strings.HasPrefix(errOut, "Sending build context to Docker daemon ") ||
		!strings.HasSuffix(errOut, "Step 2/2 : RUN exit 3\n ---> Running in 0123456789ab\nThe command '/bin/sh -c exit 3' returned a non-zero code: 3\n") {
		t.Errorf("quiet failed RUN: %d %q %q", code, out, errOut)
	}

	// An error without a code exits 1.
	f.on("POST /build", buildStream(`{"errorDetail":{"message":"failed to parse Dockerfile: unknown instruction: FORM"},"error":"failed to parse Dockerfile: unknown instruction: FORM"}`))
	if code, _, errOut := f.run("", "build", dir); code != 1 || errOut != "failed to parse Dockerfile: unknown instruction: FORM\n" {
		t.Errorf("no code: %d %q", code, errOut)
	}

	// An error answer before the stream starts.
	f.json("POST /build", 400, map[string]string{"message": "Cannot locate specified Dockerfile: Dockerfile"})
	if code, _, errOut := f.run("", "build", dir); code != 1 || !strings.HasSuffix(errOut, "Error response from daemon: Cannot locate specified Dockerfile: Dockerfile\n") {
		t.Errorf("daemon error: %d %q", code, errOut)
	}
}

func TestBuildStdinAndDockerfileFlag(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /build", buildStream(`{"stream":"ok\n"}`))

	// A tar on stdin is sent as it is, compressed or not.
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	writeFileEntry(tw, "build/Dockerfile", 0o644, []byte("FROM busybox\n"))
	tw.Close()
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	zw.Write(tarBuf.Bytes())
	zw.Close()
	for _, in := range []string{tarBuf.String(), gzBuf.String()} {
		f.reqs = nil
		code, out, errOut := f.run(in, "build", "-f", "build/Dockerfile", "-")
		r := f.only("POST /build")
		if code != 0 || out != sendingLine(len(in))+"ok\n" || string(r.Body) != in || r.Query["dockerfile"][0] != "build/Dockerfile" {
			t.Errorf("stdin tar: %d %q %q dockerfile %v", code, out, errOut, r.Query["dockerfile"])
		}
	}

	// A Dockerfile on stdin builds with an empty context.
	f.reqs = nil
	if code, _, errOut := f.run("FROM busybox\n", "build", "-"); code != 0 {
		t.Fatalf("stdin Dockerfile: %d %q", code, errOut)
	}
	r := f.only("POST /build")
	names, m := readTar(t, bytes.NewReader(r.Body))
	if !slices.Equal(names, []string{"Dockerfile"}) || m["Dockerfile"].content != "FROM busybox\n" || r.Query["dockerfile"][0] != "Dockerfile" {
		t.Errorf("stdin Dockerfile context %q %v", names, r.Query)
	}

	// -f - with a directory, and -f outside the context.
	dir, other := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"app": "x"})
	writeTree(t, other, map[string]string{"Dockerfile.prod": "FROM other\n"})
	for _, tc := range []struct{ stdin, file, content string }{
		{"FROM stdin\n", "-", "FROM stdin\n"},
		{"", filepath.Join(other, "Dockerfile.prod"), "FROM other\n"},
	} {
		f.reqs = nil
		if code, _, errOut := f.run(tc.stdin, "build", "-f", tc.file, dir); code != 0 {
			t.Fatalf("-f %s: %d %q", tc.file, code, errOut)
		}
		r := f.only("POST /build")
		name := r.Query["dockerfile"][0]
		names, m := readTar(t, bytes.NewReader(r.Body))
		if !strings.HasPrefix(name, ".dockerfile.") || m[name].content != tc.content || m[".dockerignore"].content != ".dockerignore\n"+name+"\n" || len(names) != 3 {
			t.Errorf("-f %s: dockerfile %q entries %q", tc.file, name, names)
		}
	}

	// --compress gzips a directory context.
	f.reqs = nil
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\n"})
	if code, _, errOut := f.run("", "build", "--compress", dir); code != 0 {
		t.Fatalf("--compress: %d %q", code, errOut)
	}
	zr, err := gzip.NewReader(bytes.NewReader(f.only("POST /build").Body))
	if err != nil {
		t.Fatalf("--compress body: %v", err)
	}
	if names, _ := readTar(t, zr); !slices.Equal(names, []string{"Dockerfile", "app"}) {
		t.Errorf("--compress entries %q", names)
	}
}

func TestBuildInvalidInput(t *testing.T) {
	f := newAPIFake(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\n", "file": "x"})
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"-t", "a:b:c", dir}, "invalid argument \"a:b:c\" for \"-t, --tag\" flag: invalid reference format\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information\n"},
		{"", []string{"-t", "Upper", dir}, "invalid argument \"Upper\" for \"-t, --tag\" flag: invalid reference format: repository name (library/Upper) must be lowercase\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information\n"},
		{"", []string{"--build-arg", "=x", dir}, "invalid argument \"=x\" for \"--build-arg\" flag: invalid environment variable: =x\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information\n"},
		{"", []string{"--label", "=x", dir}, "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information\n"},
		{"", []string{"--progress", "fancy", dir}, "invalid argument \"fancy\" for \"--progress\" flag: must be one of \"auto\", \"plain\", \"tty\"\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information\n"},
		{"", []string{"--platform", "linux/nope", dir}, "\"linux/nope\": unknown operating system or architecture: invalid argument\n"},
		{"", nil, "berth: 'berth build' requires 1 argument\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information\n"},
		{"", []string{filepath.Join(dir, "nope")}, "unable to prepare context: path \"" + filepath.Join(dir, "nope") + "\" not found\n"},
		{"", []string{"-f", filepath.Join(dir, "Nofile"), dir}, "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat " + filepath.Join(dir, "Nofile") + ": no such file or directory\n"},
		{"", []string{"-f", "-", "-"}, "invalid argument: can't use stdin for both build context and dockerfile\n"},
		{"", []string{"https://example.com/app.git"}, "unable to prepare context: building from a URL or Git repository is not supported, use a local directory or a tar on stdin: \"https://example.com/app.git\"\n"},
		{"FROM x\n", []string{"-f", "Dockerfile", "-"}, "unable to prepare context from STDIN: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles\n"},
	} {
		code, out, errOut := f.run(tc.stdin, append([]string{"build"}, tc.args...)...)
		if code != wantCode(tc.want) || out != "" || errOut != tc.want {
			t.Errorf("%v:\n got %d %q %q\nwant %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if len(f.reqs) != 0 {
		t.Errorf("invalid input reached the daemon: %+v", f.reqs[0])
	}

	// A bad ignore pattern stops the build before anything is sent.
	writeTree(t, dir, map[string]string{".dockerignore": "[\n"})
	code, out, errOut := f.run("", "build", dir)
	if code != 1 || out != "" || errOut != "error checking context: syntax error in pattern\n" || len(f.reqs) != 0 {
		t.Errorf("bad pattern: %d %q %q", code, out, errOut)
	}
}

func TestSendProgressTTY(t *testing.T) {
	var out bytes.Buffer
	p := newSendProgress(bytes.NewReader(make([]byte, 3<<20)), &out, true)
	buf := make([]byte, 600<<10)
	for {
		if _, err := p.Read(buf); err != nil {
			break
		}
		time.Sleep(110 * time.Millisecond)
	}
	lines := strings.Split(out.String(), "\r")
	if len(lines) < 4 || lines[0] != "Sending build context to Docker daemon  614.4kB" ||
		!strings.HasSuffix(out.String(), "Sending build context to Docker daemon  3.146MB\r\r\n") {
		t.Errorf("tty progress %q", out.String())
	}
	select {
	case <-p.done:
	default:
		t.Error("done not closed at EOF")
	}
	// After stop nothing more is written.
	out.Reset()
	p = newSendProgress(strings.NewReader("abc"), &out, false)
	p.stop()
	io.ReadAll(p)
	if out.Len() != 0 {
		t.Errorf("output after stop: %q", out.String())
	}
}

func TestBuildArgsAndAuth(t *testing.T) {
	if m := buildArgsMap(nil); m != nil {
		t.Errorf("no args: %v", m)
	}
	cfg := t.TempDir()
	t.Setenv("BERTH_CONFIG", cfg)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	raw, _ := json.Marshal(map[string]any{"auths": map[string]any{"127.0.0.1:5000": map[string]string{"auth": "dXNlcjpwYXNz"}}})
	os.WriteFile(filepath.Join(cfg, "config.json"), raw, 0o600)
	got := buildAuthConfigs()
	if ac, ok := got["127.0.0.1:5000"]; len(got) != 1 || !ok || ac.Username != "user" || ac.Password != "pass" || ac.ServerAddress != "127.0.0.1:5000" {
		t.Errorf("auth configs %+v", got)
	}
}

// TestBuildContextReadError checks that a file failing while the context streams ends
// the build with that cause, not with a connection error: a sysfs file bound into the
// context claims 4096 bytes and yields fewer.
func TestBuildContextReadError(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to bind-mount a file")
		}
		t.Skip("needs root to bind-mount a file")
	}
	const src = "/sys/kernel/mm/transparent_hugepage/enabled"
	if fi, err := os.Stat(src); err != nil || fi.Size() != 4096 {
		t.Skipf("no sysfs file of 4096 bytes at %s", src)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\n", "sys": ""})
	target := filepath.Join(dir, "sys")
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })

	f := newAPIFake(t)
	f.on("POST /build", buildStream(`{"stream":"should not be shown\n"}`))
	code, out, errOut := f.run("", "build", dir)
	want := "error checking context: " + target + " changed size while it was read\n"
	if code != 1 || strings.Contains(out, "should not") || errOut != want {
		t.Errorf("read error: %d %q %q, want %q", code, out, errOut, want)
	}
}

func TestStepTimer(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(0, 0)
	st := &stepTimer{w: &out, now: func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }}
	io.WriteString(st, "Step 1/2 : FROM busybox\n ---> abc\nStep 2/2 : RUN echo hi\nhi")
	io.WriteString(st, "\n ---> def\nSuccessfully built def\n")
	st.close()
	want := "Step 1/2 : FROM busybox\n ---> abc\n ---> 0.25s\nStep 2/2 : RUN echo hi\nhi\n ---> def\n ---> 0.25s\nSuccessfully built def\n"
	if out.String() != want {
		t.Fatalf("got %q\nwant %q", out.String(), want)
	}
}
