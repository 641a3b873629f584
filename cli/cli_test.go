package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/version"
)

// wantCode is docker 28's exit status for an expected error message: 125 for a flag
// error (the error, then its help hint "Run … for more information"), 1 for the rest
// (argument-count errors start with "berth: '").
func wantCode(msg string) int {
	if strings.Contains(msg, "\n\nRun '") && !strings.HasPrefix(msg, "berth: '") {
		return 125
	}
	return 1
}

func TestMainFlagAndArgErrors(t *testing.T) {
	t.Setenv(envNoAutostart, "1")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"run", "--foo", "busybox"}, 125, "unknown flag: --foo\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"},
		{[]string{"create", "--foo", "busybox"}, 125, "unknown flag: --foo\n\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth create --help' for more information\n"},
		{[]string{"ps", "--foo"}, 125, "unknown flag: --foo\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n"},
		{[]string{"container", "ls", "-x"}, 125, "unknown shorthand flag: 'x' in -x\n\nUsage:  berth container ls [OPTIONS]\n\nRun 'berth container ls --help' for more information\n"},
		{[]string{"nosuch"}, 1, "berth: unknown command: berth nosuch\n\nRun 'berth --help' for more information\n"},
		{[]string{"run"}, 1, "berth: 'berth run' requires at least 1 argument\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth run --help' for more information\n"},
		{[]string{"run", "--restart", "always", "--rm", "busybox"}, 125, "berth: conflicting options: cannot specify both --restart and --rm\n\nRun 'berth run --help' for more information\n"},
		{[]string{"ps", "extra"}, 1, "berth: 'berth ps' accepts no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runMain(t, nil, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d", code, tc.code)
			}
			if !strings.HasPrefix(errOut, tc.stderr) {
				t.Errorf("stderr = %q, want %q", errOut, tc.stderr)
			}
			if out != "" {
				t.Errorf("stdout = %q", out)
			}
		})
	}
}

func TestMainNoDaemon(t *testing.T) {
	t.Setenv(envNoAutostart, "1")
	host := "unix://" + filepath.Join(t.TempDir(), "missing.sock")
	t.Setenv(envHost, host)
	want := "Cannot connect to the Berth daemon at " + host + ". Is the berth daemon running?\n"
	for _, args := range [][]string{{"ps"}, {"run", "busybox"}, {"stop", "a", "b"}, {"images"}, {"info"}} {
		code, _, errOut := runMain(t, nil, "", args...)
		if code != 1 || !strings.HasSuffix(errOut, want) {
			t.Errorf("%v: code %d stderr %q, want 1 and %q", args, code, errOut, want)
		}
	}

	code, out, errOut := runMain(t, nil, "", "version")
	if code != 1 || errOut != want {
		t.Errorf("version: code %d stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "Client:\n Version:           "+version.Version+"\n API version:       ") || strings.Contains(out, "Server:") {
		t.Errorf("version client section:\n%s", out)
	}
}

func TestHostPrecedence(t *testing.T) {
	t.Setenv(envHost, "")
	c := &CLI{}
	if c.Host() != DefaultHost {
		t.Errorf("default host = %q", c.Host())
	}
	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	if c.Host() != DefaultHost {
		t.Errorf("DOCKER_HOST must be ignored, got %q", c.Host())
	}
	t.Setenv(envHost, "unix:///tmp/env.sock")
	if c.Host() != "unix:///tmp/env.sock" {
		t.Errorf("env host = %q", c.Host())
	}
	c.host = "tcp://127.0.0.1:2375"
	if c.Host() != "tcp://127.0.0.1:2375" {
		t.Errorf("flag host = %q", c.Host())
	}
}

func TestVersionWithDaemon(t *testing.T) {
	d := newFakeDaemon(t)
	code, out, errOut := runMain(t, d, "", "version")
	if code != 0 {
		t.Fatalf("code %d stderr %q", code, errOut)
	}
	for _, want := range []string{
		" API version:       1.47 (downgraded from ",
		"\n\nServer: Berth Engine\n Engine:\n  Version:          0.1.0\n  API version:      1.47 (minimum version 1.24)\n",
		"  Git commit:       abc1234\n",
		" runc:\n  Version:          1.1.5\n  GitCommit:        v1.1.5\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runMain(t, d, "", "version", "--format", "{{.Server.Version}} {{.Client.Version}}")
	if code != 0 || out != "0.1.0 "+version.Version+"\n" {
		t.Errorf("version --format: %d %q", code, out)
	}
	code, out, _ = runMain(t, d, "", "version", "-f", "json")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["Server"] == nil {
		t.Errorf("version -f json: %d %q", code, out)
	}
}

func TestMultiContainerCommands(t *testing.T) {
	d := newFakeDaemon(t)
	d.known["a"], d.known["b"] = true, true
	code, out, errOut := runMain(t, d, "", "stop", "-t", "2", "a", "missing", "b")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if out != "a\nb\n" {
		t.Errorf("stdout = %q, want the successful names in order", out)
	}
	if errOut != "Error response from daemon: No such container: missing\n" {
		t.Errorf("stderr = %q", errOut)
	}
	calls := d.callList()
	for _, want := range []string{"stop a t=2", "stop b t=2", "stop missing"} {
		if !slices.Contains(calls, want) {
			t.Errorf("calls %q lack %q", calls, want)
		}
	}

	code, out, errOut = runMain(t, d, "", "kill", "-s", "HUP", "b")
	if code != 0 || out != "b\n" || errOut != "" || !slices.Contains(d.callList(), "kill b HUP") {
		t.Errorf("kill: %d %q %q %q", code, out, errOut, d.callList())
	}
	code, out, errOut = runMain(t, d, "", "restart", "a")
	if code != 0 || out != "a\n" || !slices.Contains(d.callList(), "restart a t=") {
		t.Errorf("restart: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runMain(t, d, "", "rm", "-f", "missing")
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("rm -f of a missing container must succeed quietly: %d %q %q", code, out, errOut)
	}
}

func TestLogsDemultiplexes(t *testing.T) {
	d := newFakeDaemon(t)
	d.known["web"] = true
	d.logs = string(frame(1, "out 1\n")) + string(frame(2, "err 1\n")) + string(frame(1, "out 2\n"))
	code, out, errOut := runMain(t, d, "", "logs", "--tail", "3", "web")
	if code != 0 || out != "out 1\nout 2\n" || errOut != "err 1\n" {
		t.Errorf("logs: %d %q %q", code, out, errOut)
	}
	if !slices.Contains(d.callList(), "logs follow= tail=3") {
		t.Errorf("calls %q", d.callList())
	}

	d.tty = true
	d.logs = "raw tty output\r\n"
	code, out, _ = runMain(t, d, "", "logs", "-f", "web")
	if code != 0 || out != d.logs {
		t.Errorf("tty logs: %d %q", code, out)
	}
}

func TestInspect(t *testing.T) {
	d := newFakeDaemon(t)
	d.known["web"] = true
	code, out, errOut := runMain(t, d, "", "inspect", "web")
	if code != 0 || !strings.HasPrefix(out, "[\n    {\n        \"Id\": \""+d.id+"\",\n") || !strings.HasSuffix(out, "}\n]\n") {
		t.Errorf("inspect: %d %q %q", code, out, errOut)
	}
	code, out, _ = runMain(t, d, "", "container", "inspect", "-f", "{{.Name}} {{.State.Running}} {{.Config.Image}}", "web")
	if code != 0 || out != "/web true busybox\n" {
		t.Errorf("inspect -f: %d %q", code, out)
	}
	code, out, errOut = runMain(t, d, "", "inspect", "-f", "{{.Name}}", "web", "ghost")
	if code != 1 || out != "/web\n" || errOut != "Error: No such object: ghost\n" {
		t.Errorf("inspect missing: %d %q %q", code, out, errOut)
	}
	code, _, errOut = runMain(t, d, "", "inspect", "-f", "{{.Name", "web")
	if code != 64 || !strings.HasPrefix(errOut, "template parsing error:") {
		t.Errorf("inspect bad template: %d %q", code, errOut)
	}
}

func TestPullPrintsReference(t *testing.T) {
	d := newFakeDaemon(t)
	code, out, errOut := runMain(t, d, "", "pull", "busybox")
	want := "Using default tag: latest\nlatest: Pulling from library/busybox\na1b2c3d4e5f6: Pull complete\nStatus: Downloaded newer image for busybox:latest\ndocker.io/library/busybox:latest\n"
	if code != 0 || out != want {
		t.Errorf("pull: %d\n got %q\nwant %q\nstderr %q", code, out, want, errOut)
	}
	code, out, _ = runMain(t, d, "", "image", "pull", "-q", "busybox:1.36")
	if code != 0 || out != "docker.io/library/busybox:1.36\n" {
		t.Errorf("pull -q: %d %q", code, out)
	}
	code, _, errOut = runMain(t, d, "", "pull", "-a", "busybox:1.36")
	if code != 1 || errOut != "tag can't be used with --all-tags/-a\n" {
		t.Errorf("pull -a with tag: %d %q", code, errOut)
	}
}

func TestStartAttachAndAttach(t *testing.T) {
	d := newFakeDaemon(t)
	d.known["web"] = true
	d.stdout, d.stderr, d.exitCode = "out\n", "err\n", 6
	code, out, errOut := runMain(t, d, "", "start", "-a", "web")
	if code != 6 || out != "out\n" || errOut != "err\n" {
		t.Errorf("start -a: %d %q %q", code, out, errOut)
	}
	want := []string{"inspect web", "attach stdin= stdout=1 stderr=1", "wait next-exit", "start"}
	if got := d.callList(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %q\nwant %q", got, want)
	}

	d = newFakeDaemon(t)
	d.known["web"] = true
	d.stdout, d.exitCode = "late\n", 2
	close(d.started) // already running
	code, out, errOut = runMain(t, d, "", "attach", "web")
	if code != 2 || out != "late\n" {
		t.Errorf("attach: %d %q %q", code, out, errOut)
	}

	d = newFakeDaemon(t)
	d.known["a"] = true
	code, out, errOut = runMain(t, d, "", "start", "a", "ghost")
	if code != 1 || out != "a\n" || errOut != "Error response from daemon: No such container: ghost\nfailed to start containers: ghost\n" {
		t.Errorf("start: %d %q %q", code, out, errOut)
	}
}

// --help is laid out as docker 28 lays it out.
func TestHelpLayout(t *testing.T) {
	f := newAPIFake(t)
	_, out, _ := f.run("", "ps", "--help")
	if !strings.HasPrefix(out, "Usage:  berth ps [OPTIONS]\n\nList containers\n\nAliases:\n") || !strings.Contains(out, "\n\nOptions:\n  -a, --all ") ||
		strings.Contains(out, "--help") || strings.Contains(out, "--host") || strings.Contains(out, "Flags:") {
		t.Errorf("ps --help:\n%s", out)
	}
	for _, tc := range []struct {
		args    []string
		aliases string
	}{
		{[]string{"container", "ls"}, "berth container ls, berth container list, berth container ps, berth ps"},
		{[]string{"ps"}, "berth container ls, berth container list, berth container ps, berth ps"},
		{[]string{"rmi"}, "berth image rm, berth image remove, berth rmi"},
		{[]string{"images"}, "berth image ls, berth image list, berth images"},
		{[]string{"run"}, "berth container run, berth run"},
		{[]string{"network", "ls"}, "berth network ls, berth network list"},
		{[]string{"builder", "build"}, "berth image build, berth build, berth builder build"},
	} {
		_, out, _ := f.run("", append(tc.args, "--help")...)
		if !strings.Contains(out, "\n\nAliases:\n  "+tc.aliases+"\n\nOptions:\n") {
			t.Errorf("%v --help, want aliases %q:\n%s", tc.args, tc.aliases, out)
		}
	}
	if _, out, _ := f.run("", "inspect", "--help"); strings.Contains(out, "Aliases:") {
		t.Errorf("inspect has aliases:\n%s", out)
	}
	_, out, _ = f.run("", "--help")
	for _, want := range []string{"Usage:  berth [OPTIONS] COMMAND\n", "\n\nCommon Commands:\n  run ", "\n\nManagement Commands:\n  builder ",
		"\n  network     Manage networks\n", "\n\nCommands:\n  attach ", "\n\nGlobal Options:\n  -D, --debug ", "-v, --version       Print version information and quit\n",
		"\n\nRun 'berth COMMAND --help' for more information on a command.\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out[strings.Index(out, "\nCommands:"):], "\n  run ") {
		t.Errorf("run is listed twice:\n%s", out)
	}
	_, out, _ = f.run("", "network", "--help")
	if !strings.HasPrefix(out, "Usage:  berth network COMMAND\n\nManage networks\n\nCommands:\n  connect ") ||
		!strings.HasSuffix(out, "\n\nRun 'berth network COMMAND --help' for more information on a command.\n") {
		t.Errorf("network --help:\n%s", out)
	}
}
