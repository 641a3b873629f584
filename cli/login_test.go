package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

type fakeLogin struct{ got client.RegistryLoginOptions }

func (f *fakeLogin) RegistryLogin(ctx context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	f.got = o
	return client.RegistryLoginResult{Auth: registry.AuthResponse{Status: "Login Succeeded"}}, nil
}

func TestLoginStoresAndLogoutRemoves(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BERTH_CONFIG", dir)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte(`{"auths":{},"psFormat":"table {{.ID}}"}`), 0o600)
	var f fakeLogin
	var out, errb bytes.Buffer
	s := Streams{In: strings.NewReader("pw\n"), Out: &out, Err: &errb}
	if err := Login(context.Background(), &f, s, LoginOptions{Server: "http://127.0.0.1:5001/", Username: "u", PasswordStdin: true}); err != nil {
		t.Fatal(err)
	}
	if f.got.ServerAddress != "127.0.0.1:5001" || f.got.Username != "u" || f.got.Password != "pw" || out.String() != "Login Succeeded\n" {
		t.Fatalf("login sent %+v, printed %q", f.got, out.String())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config: %v %v", fi, err)
	}
	var cf map[string]json.RawMessage
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &cf)
	var auths map[string]AuthEntry
	json.Unmarshal(cf["auths"], &auths)
	if auths["127.0.0.1:5001"].Auth != "dTpwdw==" || len(auths) != 1 || string(cf["psFormat"]) != `"table {{.ID}}"` {
		t.Fatalf("config = %s", b)
	}
	ac, ok := Credentials("127.0.0.1:5001")
	if !ok || ac.Username != "u" || ac.Password != "pw" {
		t.Fatalf("Credentials = %+v, %v", ac, ok)
	}
	out.Reset()
	f = fakeLogin{}
	if err := Login(context.Background(), &f, s, LoginOptions{Server: "127.0.0.1:5001"}); err != nil || f.got.Password != "pw" ||
		out.String() != "Authenticating with existing credentials... [Username: u]\nLogin Succeeded\n" {
		t.Fatalf("login with stored credentials: %v, sent %+v, printed %q", err, f.got, out.String())
	}
	out.Reset()
	if err := Logout(&out, "127.0.0.1:5001"); err != nil || out.String() != "Removing login credentials for 127.0.0.1:5001\n" {
		t.Fatalf("logout: %v %q", err, out.String())
	}
	if _, ok := Credentials("127.0.0.1:5001"); ok {
		t.Fatal("credentials left after logout")
	}
	out.Reset()
	Logout(&out, "127.0.0.1:5001")
	if out.String() != "Not logged in to 127.0.0.1:5001\n" {
		t.Errorf("second logout: %q", out.String())
	}
}

func TestCredentialsFromDockerConfigAndHelper(t *testing.T) {
	t.Setenv("BERTH_CONFIG", t.TempDir())
	ddir, bin := t.TempDir(), t.TempDir()
	t.Setenv("DOCKER_CONFIG", ddir)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	// A credential helper speaking docker-credential-helpers' protocol.
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n[ \"$host\" = helped.example ] || { echo 'credentials not found in native keychain'; exit 1; }\n" +
		"echo '{\"ServerURL\":\"helped.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}'\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := `{"auths":{"https://index.docker.io/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("hub:hp")) + `"},"plain.example":{"auth":"` +
		base64.StdEncoding.EncodeToString([]byte("pu:pp")) + `"}},"credHelpers":{"helped.example":"fake"}}`
	os.WriteFile(filepath.Join(ddir, "config.json"), []byte(cfg), 0o600)
	for server, want := range map[string]string{"docker.io": "hub:hp", "": "hub:hp", "plain.example": "pu:pp", "helped.example": "hu:hs", "none.example": ":"} {
		ac, _ := Credentials(server)
		if got := ac.Username + ":" + ac.Password; got != want {
			t.Errorf("%q: %s, want %s", server, got, want)
		}
	}
	if h := registryAuthFor("plain.example/x/y:1"); h == "" {
		t.Error("no X-Registry-Auth for plain.example")
	} else {
		raw, _ := base64.URLEncoding.DecodeString(h)
		var ac registry.AuthConfig
		json.Unmarshal(raw, &ac)
		if ac.Username != "pu" || ac.Password != "pp" || ac.ServerAddress != "plain.example" {
			t.Errorf("header = %s", raw)
		}
	}
	if registryAuthFor("busybox") == "" {
		t.Error("no X-Registry-Auth for Docker Hub")
	}
}
