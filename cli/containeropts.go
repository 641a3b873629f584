package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

// containerFlags are the flags of run and create that shape the container's configuration.
type containerFlags struct {
	attach      []string
	env         []string
	labels      []string
	workdir     string
	user        string
	entrypoint  string
	hostname    string
	interactive bool
	tty         bool
	autoRemove  bool
	init        bool
	restart     string
	stopSignal  string
	stopTimeout int
}

// addContainerFlags defines the container configuration flags on fs.
func addContainerFlags(fs *pflag.FlagSet) *containerFlags {
	f := &containerFlags{}
	fs.VarP(newListValue(&f.attach, validateAttach), "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	fs.VarP(newListValue(&f.env, validateEnv), "env", "e", "Set environment variables")
	fs.VarP(newListValue(&f.labels, validateLabel), "label", "l", "Set meta data on a container")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "Container host name")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&f.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	fs.BoolVar(&f.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fs.StringVar(&f.restart, "restart", "no", "Restart policy to apply when a container exits")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	return f
}

// toConfig builds the container and host configuration for image and args from the parsed flags.
func (f *containerFlags) toConfig(fs *pflag.FlagSet, image string, args []string) (*container.Config, *container.HostConfig, error) {
	attach := map[string]bool{}
	for _, s := range f.attach {
		attach[s] = true
	}
	attachStdin := attach["stdin"] || f.interactive
	attachStdout, attachStderr := attach["stdout"], attach["stderr"]
	if len(f.attach) == 0 {
		attachStdout, attachStderr = true, true
	}

	restart, err := parseRestartPolicy(f.restart)
	if err != nil {
		return nil, nil, err
	}
	if f.autoRemove && restart.Name != "" && restart.Name != container.RestartPolicyDisabled {
		return nil, nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}

	cfg := &container.Config{
		Image:        image,
		Hostname:     f.hostname,
		User:         f.user,
		WorkingDir:   f.workdir,
		Env:          f.env,
		Labels:       labelMap(f.labels),
		Tty:          f.tty,
		OpenStdin:    f.interactive,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		StopSignal:   f.stopSignal,
	}
	cfg.StdinOnce = cfg.OpenStdin && cfg.AttachStdin
	if len(args) > 0 {
		cfg.Cmd = args
	}
	if f.entrypoint != "" {
		cfg.Entrypoint = []string{f.entrypoint}
	} else if fs.Changed("entrypoint") {
		cfg.Entrypoint = []string{""} // --entrypoint= resets the image's entrypoint
	}
	if fs.Changed("stop-timeout") {
		t := f.stopTimeout
		cfg.StopTimeout = &t
	}

	hc := &container.HostConfig{
		AutoRemove:    f.autoRemove,
		RestartPolicy: restart,
	}
	if fs.Changed("init") {
		v := f.init
		hc.Init = &v
	}
	return cfg, hc, nil
}

// parseRestartPolicy parses "name[:max-retries]"; the daemon validates the name.
func parseRestartPolicy(s string) (container.RestartPolicy, error) {
	if s == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, hasCount := strings.Cut(s, ":")
	if hasCount && name == "" {
		return container.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return container.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	return p, nil
}

func labelMap(labels []string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

func validateAttach(v string) (string, error) {
	switch s := strings.ToLower(v); s {
	case "stdin", "stdout", "stderr":
		return s, nil
	}
	return "", errors.New("valid streams are STDIN, STDOUT and STDERR")
}

// validateEnv accepts KEY=VALUE, or KEY alone, which takes the value from our environment if set.
func validateEnv(v string) (string, error) {
	k, _, hasValue := strings.Cut(v, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + v)
	}
	if !hasValue {
		if val, ok := os.LookupEnv(k); ok {
			return k + "=" + val, nil
		}
	}
	return v, nil
}

func validateLabel(v string) (string, error) {
	if k, _, _ := strings.Cut(v, "="); strings.TrimSpace(k) == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	return v, nil
}

// listValue is a repeatable string flag whose values pass through a validator.
type listValue struct {
	vals     *[]string
	validate func(string) (string, error)
}

func newListValue(vals *[]string, validate func(string) (string, error)) *listValue {
	return &listValue{vals: vals, validate: validate}
}

func (l *listValue) Set(v string) error {
	if l.validate != nil {
		var err error
		if v, err = l.validate(v); err != nil {
			return err
		}
	}
	*l.vals = append(*l.vals, v)
	return nil
}

func (l *listValue) String() string {
	if len(*l.vals) == 0 {
		return ""
	}
	return "[" + strings.Join(*l.vals, " ") + "]"
}

func (l *listValue) Type() string { return "list" }
