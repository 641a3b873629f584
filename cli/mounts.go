package cli

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// splitVolumes sorts -v values the way the docker CLI does: a spec naming a host path or a
// volume goes to HostConfig.Binds (a relative host path such as ./data made absolute), a
// spec with only a container path goes to Config.Volumes. Duplicates count once; modes and
// paths are otherwise left for the daemon to judge.
func splitVolumes(specs []string) (binds []string, volumes map[string]struct{}, err error) {
	seen := make(map[string]bool, len(specs))
	volumes = map[string]struct{}{} // docker sends an empty map rather than null
	for _, spec := range specs {
		if seen[spec] {
			continue
		}
		seen[spec] = true
		source, typ, err := parseVolumeSpec(spec)
		if err != nil {
			return nil, nil, err
		}
		if source == "" {
			volumes[spec] = struct{}{}
			continue
		}
		if typ == mount.TypeBind {
			spec = absHostPart(spec)
		}
		binds = append(binds, spec)
	}
	return binds, volumes, nil
}

// absHostPart makes the host part of a bind spec (up to its first colon) absolute when it
// is a relative path starting with a dot.
func absHostPart(spec string) string {
	host, rest, ok := strings.Cut(spec, ":")
	if !ok || filepath.IsAbs(host) || !strings.HasPrefix(host, ".") {
		return spec
	}
	abs, err := filepath.Abs(host)
	if err != nil {
		return spec
	}
	return abs + ":" + rest
}

// parseVolumeSpec reads [SOURCE:]TARGET[:OPTIONS] without knowing the daemon's platform and
// returns the source (empty for an anonymous volume) and whether it names a host path
// (bind) or a volume. A colon after a lone letter belongs to a Windows drive. Only the
// shape is checked: empty sections and a fourth section are refused.
func parseVolumeSpec(spec string) (source string, typ mount.Type, err error) {
	switch len(spec) {
	case 0:
		return "", "", errors.New("invalid empty volume spec")
	case 1, 2:
		return "", mount.TypeVolume, nil
	}
	var sections []string
	start := 0
	for i, r := range spec {
		if r != ':' {
			continue
		}
		if utf8.RuneCountInString(spec[start:i]) == 1 {
			if first, _ := utf8.DecodeRuneInString(spec[start:]); unicode.IsLetter(first) {
				continue // a drive letter such as c:
			}
		}
		if start == i {
			return "", "", fmt.Errorf("invalid spec: %s: empty section between colons", spec)
		}
		if len(sections) == 2 {
			return "", "", fmt.Errorf("invalid spec: %s: too many colons", spec)
		}
		sections = append(sections, spec[start:i])
		start = i + 1
	}
	if start == len(spec) {
		return "", "", fmt.Errorf("invalid spec: %s: empty section between colons", spec)
	}
	if len(sections) == 0 {
		return "", mount.TypeVolume, nil // only a container path: an anonymous volume
	}
	source = sections[0]
	if isHostPath(source) {
		return source, mount.TypeBind, nil
	}
	return source, mount.TypeVolume, nil
}

// isHostPath reports whether a -v source names a path rather than a volume: it starts
// with '.', '/' or '~', is a Windows named pipe, or starts with a drive letter.
func isHostPath(source string) bool {
	switch source[0] {
	case '.', '/', '~':
		return true
	}
	if utf8.RuneCountInString(source) == 1 {
		return false
	}
	if strings.HasPrefix(source, `\\`) {
		return true
	}
	first, n := utf8.DecodeRuneInString(source)
	return unicode.IsLetter(first) && source[n] == ':'
}

// mountValue is the repeatable --mount flag: docker's comma-separated key=value syntax.
type mountValue struct{ mounts *[]mount.Mount }

func (m mountValue) Set(v string) error {
	mt, err := parseMount(v)
	if err != nil {
		return err
	}
	*m.mounts = append(*m.mounts, mt)
	return nil
}

func (m mountValue) String() string {
	s := make([]string, len(*m.mounts))
	for i, mt := range *m.mounts {
		s[i] = fmt.Sprintf("%s %s %s", mt.Type, mt.Source, mt.Target)
	}
	return strings.Join(s, ", ")
}

func (m mountValue) Type() string { return "mount" }

// parseMount parses one --mount value (CSV fields; keys are case-insensitive; the type
// defaults to volume) and refuses what the docker CLI refuses, with its messages. Whether
// a bind source exists or a volume name is valid is for the daemon to say.
func parseMount(v string) (mount.Mount, error) {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return mount.Mount{}, err
	}
	m := mount.Mount{Type: mount.TypeVolume}
	volumeOpts := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{}, DriverConfig: &mount.Driver{}}
		}
		return m.VolumeOptions
	}
	bindOpts := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	imageOpts := func() *mount.ImageOptions {
		if m.ImageOptions == nil {
			m.ImageOptions = &mount.ImageOptions{}
		}
		return m.ImageOptions
	}
	setKV := func(into map[string]string, kv string) {
		if k, v, _ := strings.Cut(kv, "="); k != "" {
			into[k] = v
		}
	}
	parseBool := func(key, val string) (bool, error) {
		b, err := strconv.ParseBool(val)
		if err != nil {
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		return b, nil
	}

	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		key = strings.ToLower(key)
		if !hasValue {
			switch key {
			case "readonly", "ro":
				m.ReadOnly = true
			case "volume-nocopy":
				volumeOpts().NoCopy = true
			case "bind-nonrecursive":
				bindOpts().NonRecursive = true
			default:
				return mount.Mount{}, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
			continue
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
			if !filepath.IsAbs(val) && strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					m.Source = abs
				}
			}
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = parseBool(key, val); err != nil {
				return mount.Mount{}, err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bindOpts().NonRecursive, err = parseBool(key, val); err != nil {
				return mount.Mount{}, err
			}
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bindOpts().NonRecursive = true
			case "writable":
				bindOpts().ReadOnlyNonRecursive = true
			case "readonly":
				bindOpts().ReadOnlyForceRecursive = true
			default:
				return mount.Mount{}, fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "volume-subpath":
			volumeOpts().Subpath = val
		case "volume-nocopy":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return mount.Mount{}, fmt.Errorf("invalid value for volume-nocopy: %s", val)
			}
			volumeOpts().NoCopy = b
		case "volume-label":
			setKV(volumeOpts().Labels, val)
		case "volume-driver":
			volumeOpts().DriverConfig.Name = val
		case "volume-opt":
			d := volumeOpts().DriverConfig
			if d.Options == nil {
				d.Options = map[string]string{}
			}
			setKV(d.Options, val)
		case "image-subpath":
			imageOpts().Subpath = val
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return mount.Mount{}, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return mount.Mount{}, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().Mode = os.FileMode(n)
		default:
			return mount.Mount{}, fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}

	switch {
	case m.Type == "":
		return mount.Mount{}, errors.New("type is required")
	case m.Target == "":
		return mount.Mount{}, errors.New("target is required")
	}
	for _, o := range []struct {
		set    bool
		prefix string
		typ    mount.Type
	}{
		{m.VolumeOptions != nil, "volume", mount.TypeVolume},
		{m.ImageOptions != nil, "image", mount.TypeImage},
		{m.BindOptions != nil, "bind", mount.TypeBind},
		{m.TmpfsOptions != nil, "tmpfs", mount.TypeTmpfs},
	} {
		if o.set && m.Type != o.typ {
			return mount.Mount{}, fmt.Errorf("cannot mix '%s-*' options with mount type '%s'", o.prefix, m.Type)
		}
	}
	if b := m.BindOptions; b != nil {
		if b.ReadOnlyNonRecursive && !m.ReadOnly {
			return mount.Mount{}, errors.New("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction")
		}
		if b.ReadOnlyForceRecursive {
			if !m.ReadOnly {
				return mount.Mount{}, errors.New("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction")
			}
			if b.Propagation != mount.PropagationRPrivate {
				return mount.Mount{}, errors.New("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction")
			}
		}
	}
	return m, nil
}
