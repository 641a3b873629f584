package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL, "sighup": syscall.SIGHUP, "9": syscall.SIGKILL, "usr1": syscall.SIGUSR1} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"NOPE", "0", "99", "-1"} {
		if _, err := ParseSignal(bad); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%s accepted: %v", bad, err)
		}
	}
}

func TestMergeImageConfig(t *testing.T) {
	img := &image.Image{}
	img.Config.Config.ImageConfig = ocispec.ImageConfig{
		Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"sh"}, Entrypoint: []string{"/init"},
		WorkingDir: "/app", User: "nobody", Labels: map[string]string{"from": "image"},
	}
	cases := []struct {
		name      string
		in        container.Config
		wantEntry []string
		wantCmd   []string
	}{
		{"image defaults", container.Config{}, []string{"/init"}, []string{"sh"}},
		{"cmd override keeps entrypoint", container.Config{Cmd: []string{"echo"}}, []string{"/init"}, []string{"echo"}},
		{"entrypoint override drops image cmd", container.Config{Entrypoint: []string{"/bin/true"}}, []string{"/bin/true"}, nil},
		{"empty entrypoint resets", container.Config{Entrypoint: []string{""}, Cmd: []string{"ls"}}, nil, []string{"ls"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mergeImageConfig(c.in, img)
			if strings.Join(got.Entrypoint, " ") != strings.Join(c.wantEntry, " ") || strings.Join(got.Cmd, " ") != strings.Join(c.wantCmd, " ") {
				t.Fatalf("entrypoint %v cmd %v", got.Entrypoint, got.Cmd)
			}
			if got.WorkingDir != "/app" || got.User != "nobody" || got.Labels["from"] != "image" {
				t.Errorf("image defaults lost: %+v", got)
			}
		})
	}
	got := mergeImageConfig(container.Config{Env: []string{"A=2", "B=3"}}, img)
	if strings.Join(got.Env, ",") != "PATH=/bin,A=2,B=3" {
		t.Errorf("env merge: %v", got.Env)
	}
}

func TestValidateHostConfig(t *testing.T) {
	bad := []container.HostConfig{
		{RestartPolicy: container.RestartPolicy{Name: "sometimes"}},
		{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways, MaximumRetryCount: 3}},
	}
	for _, hc := range bad {
		if err := validateHostConfig(&hc); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%+v accepted", hc.RestartPolicy)
		}
	}
	ok := container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}}
	if err := validateHostConfig(&ok); err != nil {
		t.Error(err)
	}
}

func TestStatusString(t *testing.T) {
	now := time.Now()
	c := &Container{State: State{Status: container.StateRunning, StartedAt: now.Add(-2 * time.Minute)}}
	if s := statusString(c, now); s != "Up 2 minutes" {
		t.Errorf("%q", s)
	}
	c.State = State{Status: container.StateExited, ExitCode: 137, FinishedAt: now.Add(-3 * time.Second)}
	if s := statusString(c, now); s != "Exited (137) 3 seconds ago" {
		t.Errorf("%q", s)
	}
	c.State = State{Status: container.StateCreated}
	if s := statusString(c, now); s != "Created" {
		t.Errorf("%q", s)
	}
}

func TestTransitionRefusesIllegalMoves(t *testing.T) {
	c := &Container{ID: strings.Repeat("a", 64)}
	if err := c.transition(container.StateCreated); err != nil {
		t.Fatal(err)
	}
	if err := c.transition(container.StateCreated); !errdefs.IsConflict(err) {
		t.Errorf("created twice: %v", err)
	}
	if err := c.transition(container.StateRunning); err != nil {
		t.Fatal(err)
	}
	if err := c.transition(container.StateRemoving); !errdefs.IsConflict(err) {
		t.Errorf("removing a running container must be refused: %v", err)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "daemon.json")
	os.WriteFile(p, []byte(`{"registry-mirrors": ["http://127.0.0.1:5000"], "debug": true, "bip": "10.1.0.1/16"}`), 0o644)
	fc, set, err := LoadConfigFile(p, false)
	if err != nil || fc.RegistryMirrors[0] != "http://127.0.0.1:5000" || !fc.Debug || !set["debug"] {
		t.Fatalf("%+v %v", fc, err)
	}
	os.WriteFile(p, []byte(`{"registry-mirors": []}`), 0o644)
	if _, _, err := LoadConfigFile(p, false); err == nil || !strings.Contains(err.Error(), "registry-mirors") {
		t.Errorf("unknown key must be refused: %v", err)
	}
	if _, _, err := LoadConfigFile(filepath.Join(dir, "missing.json"), true); err != nil {
		t.Errorf("optional missing file: %v", err)
	}
	if _, _, err := LoadConfigFile(filepath.Join(dir, "missing.json"), false); err == nil {
		t.Error("an explicit missing file must fail")
	}
}
