package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestConfigMirrorsByHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(path, []byte(`{"registry-mirrors": ["http://127.0.0.1:5000"], "registry-mirrors-by-host": {"quay.io": ["http://127.0.0.1:5001"]}}`), 0o644)
	fc, set, err := LoadConfigFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if !set["registry-mirrors-by-host"] || !slices.Equal(fc.RegistryMirrorsByHost["quay.io"], []string{"http://127.0.0.1:5001"}) || !slices.Equal(fc.RegistryMirrors, []string{"http://127.0.0.1:5000"}) {
		t.Errorf("config = %+v", fc)
	}
}
