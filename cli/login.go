package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/distribution/reference"
	credclient "github.com/docker/docker-credential-helpers/client"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// dockerHubServer is the key Docker uses for Docker Hub credentials.
const dockerHubServer = "https://index.docker.io/v1/"

// ConfigFile is the part of a docker-compatible config.json that holds credentials.
type ConfigFile struct {
	Auths       map[string]AuthEntry `json:"auths"`
	CredsStore  string               `json:"credsStore,omitempty"`
	CredHelpers map[string]string    `json:"credHelpers,omitempty"`
	rest        map[string]json.RawMessage
}

// AuthEntry is one registry's stored credentials.
type AuthEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// BerthConfigDir is $BERTH_CONFIG, or ~/.berth.
func BerthConfigDir() string {
	if d := os.Getenv("BERTH_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".berth")
}

// dockerConfigDir is $DOCKER_CONFIG, or ~/.docker.
func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// LoadConfigFile reads a config.json; a missing file is an empty config.
func LoadConfigFile(path string) (*ConfigFile, error) {
	cf := &ConfigFile{Auths: map[string]AuthEntry{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &cf.rest); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(raw, cf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cf.Auths == nil {
		cf.Auths = map[string]AuthEntry{}
	}
	return cf, nil
}

// Save writes the config atomically with mode 0600, keeping keys Berth does not know.
func (cf *ConfigFile) Save(path string) error {
	out := map[string]any{}
	for k, v := range cf.rest {
		out[k] = v
	}
	out["auths"] = cf.Auths
	raw, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(raw, '\n'), 0o600)
}

// serverKey is the config.json key of a registry: Docker Hub's legacy URL, or the host.
func serverKey(server string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	switch s {
	case "", "docker.io", "index.docker.io", "index.docker.io/v1", "registry-1.docker.io":
		return dockerHubServer
	}
	host, _, _ := strings.Cut(s, "/")
	return host
}

// lookup finds credentials for key in cf: its credential helper, its credsStore, then auths.
func (cf *ConfigFile) lookup(key string) (registry.AuthConfig, bool) {
	helper := cf.CredHelpers[key]
	if helper == "" {
		helper = cf.CredsStore
	}
	if helper != "" {
		c, err := credclient.Get(credclient.NewShellProgramFunc("docker-credential-"+helper), key)
		if err == nil && c.Secret != "" {
			if c.Username == "<token>" {
				return registry.AuthConfig{ServerAddress: key, IdentityToken: c.Secret}, true
			}
			return registry.AuthConfig{ServerAddress: key, Username: c.Username, Password: c.Secret}, true
		}
	}
	for k, e := range cf.Auths {
		if serverKey(k) != key {
			continue
		}
		ac := registry.AuthConfig{ServerAddress: key, IdentityToken: e.IdentityToken}
		if raw, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
			ac.Username, ac.Password, _ = strings.Cut(string(raw), ":")
		}
		if ac.Username != "" || ac.IdentityToken != "" {
			return ac, true
		}
	}
	return registry.AuthConfig{}, false
}

// Credentials returns the stored credentials for a registry (host[:port] or Docker
// Hub), from ~/.berth/config.json, then ~/.docker/config.json.
func Credentials(server string) (registry.AuthConfig, bool) {
	key := serverKey(server)
	for _, dir := range []string{BerthConfigDir(), dockerConfigDir()} {
		cf, err := LoadConfigFile(filepath.Join(dir, "config.json"))
		if err != nil {
			continue
		}
		if ac, ok := cf.lookup(key); ok {
			return ac, true
		}
	}
	return registry.AuthConfig{}, false
}

// EncodeAuth encodes credentials for the X-Registry-Auth header.
func EncodeAuth(ac registry.AuthConfig) string {
	raw, _ := json.Marshal(ac)
	return base64.URLEncoding.EncodeToString(raw)
}

// registryAuthFor is the X-Registry-Auth header for pulling or pushing ref ("" without credentials).
func registryAuthFor(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	ac, ok := Credentials(reference.Domain(named))
	if !ok {
		return ""
	}
	return EncodeAuth(ac)
}

// LoginOptions are the inputs of Login.
type LoginOptions struct {
	Server        string
	Username      string
	Password      string
	PasswordStdin bool
}

// RegistryLoginer is what logging in needs from the daemon.
type RegistryLoginer interface {
	RegistryLogin(ctx context.Context, options client.RegistryLoginOptions) (client.RegistryLoginResult, error)
}

func newLoginCommand(c *CLI) *cobra.Command {
	var opts LoginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Server = args[0]
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return Login(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Username, "username", "u", "", "Username")
	fs.StringVarP(&opts.Password, "password", "p", "", "Password or Personal Access Token (PAT)")
	fs.BoolVar(&opts.PasswordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

// Login checks credentials with the daemon and stores them in ~/.berth/config.json.
func Login(ctx context.Context, api RegistryLoginer, s Streams, opts LoginOptions) error {
	if opts.PasswordStdin {
		if opts.Password != "" {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
		if opts.Username == "" {
			return errors.New("Must provide --username with --password-stdin")
		}
		raw, err := io.ReadAll(s.In)
		if err != nil {
			return err
		}
		opts.Password = strings.TrimRight(string(raw), "\r\n")
	} else if opts.Password != "" {
		fmt.Fprintln(s.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	key := serverKey(opts.Server)
	var res client.RegistryLoginResult
	var err error
	done := false
	if opts.Username == "" && opts.Password == "" {
		// Like docker: try the stored credentials before asking.
		if ac, ok := Credentials(key); ok && ac.IdentityToken == "" {
			fmt.Fprintf(s.Out, "Authenticating with existing credentials... [Username: %s]\n", ac.Username)
			res, err = api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: ac.Username, Password: ac.Password, ServerAddress: key})
			if err == nil {
				opts.Username, opts.Password, done = ac.Username, ac.Password, true
			} else {
				fmt.Fprintf(s.Err, "Login did not succeed, error: %v\n", err)
			}
		}
	}
	if !done {
		if opts.Username == "" || opts.Password == "" {
			if err := prompt(s, &opts); err != nil {
				return err
			}
		}
		res, err = api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: opts.Username, Password: opts.Password, ServerAddress: key})
		if err != nil {
			return err
		}
	}
	path := filepath.Join(BerthConfigDir(), "config.json")
	cf, err := LoadConfigFile(path)
	if err != nil {
		return err
	}
	e := AuthEntry{Auth: base64.StdEncoding.EncodeToString([]byte(opts.Username + ":" + opts.Password))}
	if res.Auth.IdentityToken != "" {
		e = AuthEntry{IdentityToken: res.Auth.IdentityToken}
	}
	cf.Auths[key] = e
	if err := cf.Save(path); err != nil {
		return fmt.Errorf("Error saving credentials: %w", err)
	}
	status := res.Auth.Status
	if status == "" {
		status = "Login Succeeded"
	}
	fmt.Fprintln(s.Out, status)
	return nil
}

// prompt asks for the missing username and password on a terminal.
func prompt(s Streams, opts *LoginOptions) error {
	fd, isTerm := term.GetFdInfo(s.In)
	if !isTerm {
		return errors.New("Error: Cannot perform an interactive login from a non TTY device")
	}
	r := bufio.NewReader(s.In)
	if opts.Username == "" {
		fmt.Fprintf(s.Out, "Username: ")
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return err
		}
		opts.Username = strings.TrimSpace(line)
		if opts.Username == "" {
			return errors.New("Error: Non-null Username Required")
		}
	}
	if opts.Password == "" {
		fmt.Fprintf(s.Out, "Password: ")
		state, err := term.SaveState(fd)
		if err != nil {
			return err
		}
		term.DisableEcho(fd, state)
		line, rerr := r.ReadString('\n')
		term.RestoreTerminal(fd, state)
		fmt.Fprintln(s.Out)
		if rerr != nil && line == "" {
			return rerr
		}
		opts.Password = strings.TrimRight(line, "\r\n")
		if opts.Password == "" {
			return errors.New("Error: Password Required")
		}
	}
	return nil
}

func newLogoutCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return Logout(c.Out, server)
		},
	}
}

// Logout removes the stored credentials of server from ~/.berth/config.json.
func Logout(out io.Writer, server string) error {
	key := serverKey(server)
	path := filepath.Join(BerthConfigDir(), "config.json")
	cf, err := LoadConfigFile(path)
	if err != nil {
		return err
	}
	found := false
	for k := range cf.Auths {
		if serverKey(k) == key {
			delete(cf.Auths, k)
			found = true
		}
	}
	if !found {
		fmt.Fprintf(out, "Not logged in to %s\n", key)
		return nil
	}
	fmt.Fprintf(out, "Removing login credentials for %s\n", key)
	return cf.Save(path)
}
