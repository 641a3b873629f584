package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/snapshot"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions is what POST /commit carries; the builder sets CreatedBy too.
type CommitOptions struct {
	Repo, Tag string // the reference to write, if Repo is set ("" tag: latest)
	Author    string
	Comment   string
	Pause     bool              // freeze a running container while its layer is read
	Changes   []string          // Dockerfile instructions applied to the config (--change)
	Config    *container.Config // the new image's config; nil: the container's
	CreatedBy string            // the history's created_by; "": the container's command
}

// CommitContainer makes a new image of the container's image plus one layer holding
// the container's changes, with the container's config (or o.Config), o.Changes
// applied, and a history entry appended.
func (d *Daemon) CommitContainer(ctx context.Context, ref string, o CommitOptions) (*image.Image, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	var refs []reference.Named
	if o.Repo != "" {
		r, err := commitReference(o.Repo, o.Tag)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	} else if o.Tag != "" {
		return nil, errdefs.InvalidParameter("tag requires a repository name")
	}
	c.mu.Lock()
	switch {
	case c.State.Status == container.StateDead:
		c.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Sprintf("You cannot commit container %s which is Dead", c.ID))
	case c.removing || c.State.Status == container.StateRemoving:
		c.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Sprintf("You cannot commit container %s which is being removed", c.ID))
	}
	ccfg := *c.Config
	imageID, mounts := c.ImageID, c.RootfsMounts
	pause := o.Pause && c.State.Status == container.StateRunning
	c.mu.Unlock()

	cfg := ccfg
	if o.Config != nil {
		cfg = *o.Config
	}
	cfg = cloneConfig(cfg)
	if err := applyChanges(&cfg, o.Changes); err != nil {
		return nil, err
	}
	parent, err := d.images.Get(ctx, imageID)
	if err != nil {
		return nil, fmt.Errorf("image of container %s: %w", shortID(c.ID), err)
	}
	mergeCommitConfig(&cfg, &ccfg, &parent.Config.Config.ImageConfig)
	upper, err := snapshot.WritableDir(mounts)
	if err != nil {
		return nil, err
	}
	createdBy := o.CreatedBy
	if createdBy == "" {
		createdBy = strings.Join(ccfg.Cmd, " ")
	}
	if pause {
		if err := d.Pause(ctx, c.ID); err == nil {
			defer d.Unpause(context.WithoutCancel(ctx), c.ID)
		} else {
			d.log.Debug("pause for commit", "id", shortID(c.ID), "err", err)
		}
	}
	img, err := d.images.Commit(ctx, image.CommitOptions{
		Parent:    parent,
		Config:    imageConfig(&cfg),
		Author:    o.Author,
		Comment:   o.Comment,
		CreatedBy: createdBy,
		Layer: func(w io.Writer) error {
			return archive.WriteDiff(ctx, w, upper, archive.DiffOptions{Lower: snapshot.LowerDirs(mounts), Exclude: excludedChange})
		},
		Refs: refs,
	})
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{"comment": o.Comment, "imageID": img.ID}
	if len(refs) > 0 {
		attrs["imageRef"] = reference.FamiliarString(refs[0])
	}
	d.emit(c, events.ActionCommit, attrs)
	return img, nil
}

// commitReference is docker's repo[:tag] of a commit: no digest, "latest" by default.
func commitReference(repo, tag string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return nil, errdefs.InvalidParameter(err.Error())
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, errdefs.InvalidParameter("cannot import digest reference")
	}
	if tag != "" {
		if _, ok := named.(reference.Tagged); ok {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid reference format: %s:%s has both a tag in the repository and a tag", repo, tag))
		}
		tagged, err := reference.WithTag(named, tag)
		if err != nil {
			return nil, errdefs.InvalidParameter(err.Error())
		}
		return tagged, nil
	}
	return reference.TagNameOnly(named), nil
}

func cloneConfig(c container.Config) container.Config {
	c.Env = slices.Clone(c.Env)
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Labels = maps.Clone(c.Labels)
	c.Volumes = maps.Clone(c.Volumes)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	return c
}

// mergeCommitConfig fills what cfg leaves unset from the container's config, then from
// its image's (for what create does not copy), as dockerd's commit does.
func mergeCommitConfig(cfg, cc *container.Config, ic *ocispec.ImageConfig) {
	if cfg.User == "" {
		cfg.User = cc.User
	}
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = network.PortSet{}
	}
	for p := range cc.ExposedPorts {
		cfg.ExposedPorts[p] = struct{}{}
	}
	cfg.ExposedPorts = addImagePorts(cfg.ExposedPorts, ic.ExposedPorts)
	if len(cfg.Env) == 0 {
		cfg.Env = cc.Env
	} else {
		keys := map[string]bool{}
		for _, kv := range cfg.Env {
			keys[envKey(kv)] = true
		}
		for _, kv := range cc.Env {
			if !keys[envKey(kv)] {
				cfg.Env = append(cfg.Env, kv)
			}
		}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	for k, v := range cc.Labels {
		if _, ok := cfg.Labels[k]; !ok {
			cfg.Labels[k] = v
		}
	}
	if len(cfg.Entrypoint) == 0 {
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = cc.Cmd
		}
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = cc.Entrypoint
		}
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = cc.WorkingDir
	}
	if cfg.Volumes == nil {
		cfg.Volumes = map[string]struct{}{}
	}
	for _, vols := range []map[string]struct{}{cc.Volumes, ic.Volumes} {
		for v := range vols {
			cfg.Volumes[v] = struct{}{}
		}
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = cc.StopSignal
	}
}

// imageConfig is the image form of a container config.
func imageConfig(c *container.Config) dockerspec.DockerOCIImageConfig {
	var ext dockerspec.DockerOCIImageConfigExt
	if h := c.Healthcheck; h != nil {
		ext.Healthcheck = &dockerspec.HealthcheckConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	ext.OnBuild, ext.Shell = c.OnBuild, c.Shell
	ic := ocispec.ImageConfig{
		User:       c.User,
		Env:        c.Env,
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		WorkingDir: c.WorkingDir,
		Labels:     c.Labels,
		StopSignal: c.StopSignal,
	}
	if len(c.ExposedPorts) > 0 {
		ic.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			ic.ExposedPorts[p.String()] = struct{}{}
		}
	}
	if len(c.Volumes) > 0 {
		ic.Volumes = c.Volumes
	}
	if len(ic.Labels) == 0 {
		ic.Labels = nil
	}
	return dockerspec.DockerOCIImageConfig{ImageConfig: ic, DockerOCIImageConfigExt: ext}
}

// applyChanges applies Dockerfile instructions to cfg as docker commit --change does:
// CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, VOLUME, WORKDIR, USER and STOPSIGNAL.
func applyChanges(cfg *container.Config, changes []string) error {
	cmdSet := false
	for _, line := range instructionLines(strings.Join(changes, "\n")) {
		instr, rest := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			instr, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		switch name := strings.ToUpper(instr); name {
		case "CMD":
			cfg.Cmd = commandForm(rest, cfg.Shell)
			cmdSet = true
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(rest, cfg.Shell)
			if !cmdSet {
				cfg.Cmd = nil // an ENTRYPOINT resets an inherited CMD
			}
		case "ENV", "LABEL":
			kvs, err := nameValues(name, rest, cfg.Env)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if name == "ENV" {
					cfg.Env = mergeEnv(cfg.Env, []string{kv[0] + "=" + kv[1]})
					continue
				}
				if cfg.Labels == nil {
					cfg.Labels = map[string]string{}
				}
				cfg.Labels[kv[0]] = kv[1]
			}
		case "EXPOSE":
			words, err := shellWords(rest, cfg.Env, true)
			if err != nil {
				return err
			}
			if len(words) == 0 {
				return errdefs.InvalidParameter("EXPOSE requires at least one argument")
			}
			for _, w := range words {
				pr, err := network.ParsePortRange(w)
				if proto := pr.Proto(); err == nil && proto != network.TCP && proto != network.UDP && proto != network.SCTP {
					err = fmt.Errorf("invalid protocol %q", proto)
				}
				if err != nil {
					return errdefs.InvalidParameter(fmt.Sprintf("invalid containerPort: %s", w))
				}
				if cfg.ExposedPorts == nil {
					cfg.ExposedPorts = network.PortSet{}
				}
				for p := range pr.All() {
					cfg.ExposedPorts[p] = struct{}{}
				}
			}
		case "VOLUME":
			vols, ok := jsonArray(rest)
			if !ok {
				var err error
				if vols, err = shellWords(rest, cfg.Env, true); err != nil {
					return err
				}
			}
			if len(vols) == 0 {
				return errdefs.InvalidParameter("VOLUME requires at least one argument")
			}
			for _, v := range vols {
				if v = strings.TrimSpace(v); v == "" {
					return errdefs.InvalidParameter("VOLUME specified can not be an empty string")
				}
				if cfg.Volumes == nil {
					cfg.Volumes = map[string]struct{}{}
				}
				cfg.Volumes[v] = struct{}{}
			}
		case "WORKDIR", "USER", "STOPSIGNAL":
			words, err := shellWords(rest, cfg.Env, false)
			if err != nil {
				return err
			}
			if len(words) == 0 || words[0] == "" {
				return errdefs.InvalidParameter(fmt.Sprintf("%s requires exactly one argument", name))
			}
			v := words[0]
			switch name {
			case "WORKDIR":
				if !path.IsAbs(v) {
					v = path.Join("/", cfg.WorkingDir, v)
				}
				cfg.WorkingDir = path.Clean(v)
			case "USER":
				cfg.User = v
			case "STOPSIGNAL":
				if _, err := ParseSignal(v); err != nil {
					return err
				}
				cfg.StopSignal = v
			}
		case "ONBUILD", "HEALTHCHECK":
			return errdefs.New(errdefs.ErrNotImplemented, fmt.Sprintf("%s is not supported by Berth's commit --change yet", name))
		default:
			return errdefs.InvalidParameter(fmt.Sprintf("%s is not a valid change command", strings.ToLower(instr)))
		}
	}
	return nil
}

// instructionLines splits Dockerfile text into instructions: comments and blank lines
// dropped, lines ending in a backslash joined with the next.
func instructionLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\"))
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// jsonArray parses the exec form ["a", "b"].
func jsonArray(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "[") {
		return nil, false
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, false
	}
	return out, true
}

// commandForm is the command of a CMD or ENTRYPOINT: the exec form as is, the shell
// form run by the shell.
func commandForm(s string, shell []string) []string {
	if args, ok := jsonArray(s); ok {
		return args
	}
	if len(shell) == 0 {
		shell = []string{"/bin/sh", "-c"}
	}
	return append(slices.Clone(shell), s)
}

// nameValues parses the arguments of ENV or LABEL: name=value pairs (quotes and
// variables processed), or the old "name value" form.
func nameValues(instr, s string, env []string) ([][2]string, error) {
	if s == "" {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("%s requires at least one argument", instr))
	}
	first := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		first = s[:i]
	}
	if !strings.Contains(first, "=") {
		value := strings.TrimSpace(s[len(first):])
		if value == "" {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("%s names can not be blank", instr))
		}
		words, err := shellWords(value, env, false)
		if err != nil {
			return nil, err
		}
		return [][2]string{{first, words[0]}}, nil
	}
	words, err := shellWords(s, env, true)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("Syntax error - can't find = in %q. Must be of the form: name=value", w))
		}
		if k == "" {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("%s names can not be blank", instr))
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// shellWords processes s as a Dockerfile word list: quotes, backslash escapes and
// $VAR, ${VAR}, ${VAR:-default} and ${VAR:+alternative} from env. With split, unquoted
// blanks separate words; without, s is one word.
func shellWords(s string, env []string, split bool) ([]string, error) {
	lookup := func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, _ := strings.Cut(env[i], "="); k == name {
				return v, true
			}
		}
		return "", false
	}
	var words []string
	var cur strings.Builder
	inWord := false
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\\' && i+1 < len(s) && (quote == 0 || strings.IndexByte("\"\\$`", s[i+1]) >= 0):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '"':
			if quote == '"' {
				quote = 0
			} else {
				quote = '"'
			}
			inWord = true
		case ch == '\'' && quote == 0:
			quote = '\''
			inWord = true
		case ch == '$' && i+1 < len(s):
			v, n, err := expandVar(s[i+1:], lookup)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				cur.WriteByte(ch)
			} else {
				cur.WriteString(v)
				i += n
			}
			inWord = true
		case split && quote == 0 && (ch == ' ' || ch == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("unexpected end of statement while looking for matching %c", quote))
	}
	if inWord || !split {
		words = append(words, cur.String())
	}
	return words, nil
}

// expandVar expands the variable reference at the start of s (after a "$") and returns
// its value and how many bytes of s it took (0: not a reference).
func expandVar(s string, lookup func(string) (string, bool)) (string, int, error) {
	isName := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if s[0] != '{' {
		n := 0
		for n < len(s) && isName(s[n]) {
			n++
		}
		if n == 0 {
			return "", 0, nil
		}
		v, _ := lookup(s[:n])
		return v, n, nil
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", 0, errdefs.InvalidParameter("missing '}' in variable reference")
	}
	expr := s[1:end]
	name, word, op := expr, "", ""
	for _, o := range []string{":-", ":+"} {
		if i := strings.Index(expr, o); i >= 0 {
			name, word, op = expr[:i], expr[i+2:], o
			break
		}
	}
	v, set := lookup(name)
	switch {
	case op == ":-" && (!set || v == ""):
		v = word
	case op == ":+":
		if set && v != "" {
			v = word
		} else {
			v = ""
		}
	}
	return v, end + 1, nil
}
