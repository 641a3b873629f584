package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

// runMain runs the CLI against d with args and returns the exit code and both outputs.
func runMain(t *testing.T, d *fakeDaemon, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if d != nil {
		args = append([]string{"-H", d.host}, args...)
	}
	code := Main(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestRunPullsAttachesAndPropagatesExitCode(t *testing.T) {
	d := newFakeDaemon(t)
	d.stdout = "hello from stdout\n"
	d.stderr = "oops on stderr\n"
	d.exitCode = 3

	code, out, errOut := runMain(t, d, "", "run", "--rm", "--name", "web", "busybox", "sh", "-c", "x")
	if code != 3 {
		t.Fatalf("exit code = %d, want 3; stderr:\n%s", code, errOut)
	}
	if out != "hello from stdout\n" {
		t.Errorf("stdout = %q, want only the container's stdout", out)
	}
	for _, want := range []string{
		"Unable to find image 'busybox:latest' locally\n",
		"latest: Pulling from library/busybox\n",
		"Status: Downloaded newer image for busybox:latest\n",
		"WARNING: low on coffee\n",
		"oops on stderr\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Index(errOut, "Unable to find") > strings.Index(errOut, "Pulling from") {
		t.Errorf("pull progress printed before the missing-image notice:\n%s", errOut)
	}
	want := []string{
		"create web", "pull docker.io/library/busybox:latest", "create web",
		"attach stdin= stdout=1 stderr=1", "wait removed", "start",
	}
	if got := d.callList(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	req := d.creates[1]
	if !req.HostConfig.AutoRemove || req.Image != "busybox" || !slices.Equal(req.Cmd, []string{"sh", "-c", "x"}) {
		t.Errorf("create request: image %q cmd %q autoremove %v", req.Image, req.Cmd, req.HostConfig.AutoRemove)
	}
}

func TestRunInteractiveForwardsStdinUntilEOF(t *testing.T) {
	d := newFakeDaemon(t)
	d.pulled["busybox"] = true
	d.echoStdin = true
	code, out, errOut := runMain(t, d, "line one\nline two\n", "run", "-i", "busybox", "cat")
	if code != 0 {
		t.Fatalf("exit code = %d; stderr:\n%s", code, errOut)
	}
	if out != "line one\nline two\n" {
		t.Errorf("stdout = %q", out)
	}
	if d.stdinSeen != "line one\nline two\n" {
		t.Errorf("daemon saw stdin %q", d.stdinSeen)
	}
	want := []string{"create ", "attach stdin=1 stdout=1 stderr=1", "wait next-exit", "start"}
	if got := d.callList(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	if !d.creates[0].OpenStdin || !d.creates[0].StdinOnce || !d.creates[0].AttachStdin {
		t.Errorf("create request lacks stdin settings: %+v", d.creates[0].Config)
	}
}

func TestRunTTYStreamIsRaw(t *testing.T) {
	d := newFakeDaemon(t)
	d.pulled["busybox"] = true
	d.tty = true
	d.stdout = "\x01\x00\x00\x00raw bytes\r\n"
	code, out, errOut := runMain(t, d, "", "run", "-t", "busybox")
	if code != 0 || out != d.stdout {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestRunDetachedPrintsID(t *testing.T) {
	d := newFakeDaemon(t)
	d.pulled["busybox"] = true
	code, out, errOut := runMain(t, d, "", "run", "-d", "busybox", "sleep", "9")
	if code != 0 || out != d.id+"\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	want := []string{"create ", "start"}
	if got := d.callList(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}
	if c := d.creates[0]; c.AttachStdout || c.AttachStderr {
		t.Errorf("detached create must not attach: %+v", c.Config)
	}
}

func TestRunDaemonErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(d *fakeDaemon)
		args   []string
		code   int
		stderr string
	}{
		{
			name: "command not found",
			setup: func(d *fakeDaemon) {
				d.startErr = `failed to create task: exec: "nosuch": executable file not found in $PATH`
			},
			args:   []string{"run", "busybox", "nosuch"},
			code:   127,
			stderr: "berth: Error response from daemon: failed to create task: exec: \"nosuch\": executable file not found in $PATH\n\nRun 'berth run --help' for more information\n",
		},
		{
			name:   "cannot invoke",
			setup:  func(d *fakeDaemon) { d.startErr = `exec: "/etc": permission denied` },
			args:   []string{"run", "busybox", "/etc"},
			code:   126,
			stderr: "permission denied\n",
		},
		{
			name: "bad reference",
			setup: func(d *fakeDaemon) {
				d.createErr = map[string]string{"Busybox": "invalid reference format: repository name (library/Busybox) must be lowercase"}
			},
			args:   []string{"run", "Busybox"},
			code:   125,
			stderr: "berth: Error response from daemon: invalid reference format: repository name (library/Busybox) must be lowercase\n",
		},
		{
			name:   "pull never",
			args:   []string{"run", "--pull", "never", "busybox"},
			code:   125,
			stderr: "berth: Error response from daemon: No such image: busybox\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t)
			d.pulled["busybox"] = true
			if tc.name == "pull never" {
				d.pulled = map[string]bool{}
			}
			if tc.setup != nil {
				tc.setup(d)
			}
			code, out, errOut := runMain(t, d, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d", code, tc.code)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tc.stderr)
			}
			if out != "" {
				t.Errorf("stdout = %q", out)
			}
		})
	}
}

func TestCreatePrintsID(t *testing.T) {
	d := newFakeDaemon(t)
	code, out, errOut := runMain(t, d, "", "create", "-q", "busybox")
	if code != 0 || out != d.id+"\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	if strings.Contains(errOut, "Unable to find") {
		t.Errorf("-q must hide pull output: %q", errOut)
	}
}
