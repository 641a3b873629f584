package cli

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveLoadImportCommands(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /images/get", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-tar")
		io.WriteString(w, "TARDATA")
	})
	f.on("POST /images/load", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"stream":"Loaded image: busybox:latest\n"}`+"\n")
	})
	f.on("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"sha256:abc"}`+"\n")
	})

	code, out, errOut := f.run("", "save", "busybox", "alpine:3")
	if code != 0 || out != "TARDATA" {
		t.Fatalf("save: %d %q %q", code, out, errOut)
	}
	if q := f.only("GET /images/get").Query["names"]; !reflect.DeepEqual(q, []string{"busybox", "alpine:3"}) {
		t.Fatalf("save names: %v", q)
	}
	file := filepath.Join(t.TempDir(), "out.tar")
	if code, _, errOut := f.run("", "image", "save", "-o", file, "busybox"); code != 0 {
		t.Fatalf("save -o: %s", errOut)
	}
	if b, _ := os.ReadFile(file); string(b) != "TARDATA" {
		t.Fatalf("save -o wrote %q", b)
	}

	code, out, errOut = f.run("ARCHIVE", "load", "-q")
	if code != 0 || strings.TrimSpace(out) != "Loaded image: busybox:latest" {
		t.Fatalf("load: %d %q %q", code, out, errOut)
	}
	if r := f.only("POST /images/load"); string(r.Body) != "ARCHIVE" || r.Query["quiet"][0] != "1" {
		t.Fatalf("load request: %+v", r)
	}

	code, out, errOut = f.run("ROOTFS", "import", "-c", `CMD ["a", "b"]`, "-c", "ENV A=1", "-m", "msg", "-", "img:1")
	if code != 0 || strings.TrimSpace(out) != "sha256:abc" {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	r := f.only("POST /images/create")
	if string(r.Body) != "ROOTFS" || r.Query["fromSrc"][0] != "-" || r.Query["repo"][0] != "img:1" || r.Query["message"][0] != "msg" ||
		!reflect.DeepEqual(r.Query["changes"], []string{`CMD ["a", "b"]`, "ENV A=1"}) {
		t.Fatalf("import request: %+v", r)
	}
	if code, _, errOut := f.run("", "import", "http://127.0.0.1:1/x.tar"); code != 0 || f.requests("POST /images/create")[1].Query["fromSrc"][0] != "http://127.0.0.1:1/x.tar" {
		t.Fatalf("import of a URL: %s", errOut)
	}
	if code, _, errOut := f.run("", "load", "-i", "/nonexistent/x.tar"); code == 0 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("load of a missing file: %d %s", code, errOut)
	}
}
