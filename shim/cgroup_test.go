package shim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOOMKilled(t *testing.T) {
	write := func(root, name, content string) {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v1 := t.TempDir()
	write(v1, "memory/berth/a/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	write(v1, "memory/berth/b/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
	v2 := t.TempDir()
	write(v2, "berth/a/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
	write(v2, "berth/b/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n")
	for _, tc := range []struct {
		root, cg string
		want     bool
	}{
		{v1, "/berth/a", true}, {v1, "/berth/b", false}, {v1, "/berth/none", false},
		{v2, "/berth/a", true}, {v2, "/berth/b", false}, {v2, "", false},
	} {
		if got := oomKilled(tc.root, tc.cg); got != tc.want {
			t.Errorf("%s%s: %v", tc.root, tc.cg, got)
		}
	}
}

func TestReadCgroupsPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"linux":{"cgroupsPath":"berth/x"}}`), 0o600)
	if got := readCgroupsPath(dir); got != "/berth/x" {
		t.Fatalf("got %q", got)
	}
	if got := readCgroupsPath(t.TempDir()); got != "" {
		t.Fatalf("got %q", got)
	}
}

func TestReadCgroupsPathShapes(t *testing.T) {
	for config, want := range map[string]string{
		`{"ociVersion":"1.2.0","process":{"args":["sh"],"env":["A=\"}"]},"linux":{"namespaces":[{"type":"pid"}],"cgroupsPath":"/berth\/y"}}`: "/berth/y",
		`{"linux":{"resources":{"memory":{"limit":1.5e9}},"cgroupsPath":"a/../b"}}`:                                                          "/b",
		`{"linux":{"cgroupsPath":""}}`:      "",
		`{"linux":null}`:                    "",
		`{"linux":{"cgroupsPath":7}}`:       "",
		`{"linux":{"cgroupsPath":"x"`:       "",
		`{"process":{},"linux":{}} garbage`: "",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600)
		if got := readCgroupsPath(dir); got != want {
			t.Errorf("%s: got %q, want %q", config, got, want)
		}
	}
}

func TestRuntimeError(t *testing.T) {
	log := filepath.Join(t.TempDir(), "runc.log")
	os.WriteFile(log, []byte(`{"level":"warning","msg":"w","time":"t"}
{"level":"error","msg":"runc run failed: exec: \"nope\": executable file not found in $PATH","time":"t"}
not json
{"level":"info","msg":"later"}
`), 0o600)
	want := `runc run failed: exec: "nope": executable file not found in $PATH`
	if got := runtimeError(log, "/usr/sbin/runc", 1<<8); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := runtimeError(log+".missing", "/usr/sbin/runc", 2<<8); got != "runc failed: exit status 2" {
		t.Errorf("got %q", got)
	}
}
