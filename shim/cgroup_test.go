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
