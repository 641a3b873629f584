package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	maxID       = 1<<31 - 1
	maxUserFile = 8 << 20 // bytes read at most from /etc/passwd or /etc/group
)

type passwdEntry struct {
	name     string
	uid, gid int
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// ResolveUser resolves a Docker user spec ("", uid, uid:gid, name, name:group …)
// against the rootfs's /etc/passwd and /etc/group, read without leaving the rootfs.
func ResolveUser(rootfs, spec string) (specs.User, error) {
	userArg, groupArg, _ := strings.Cut(spec, ":")
	uidArg, uidErr := strconv.Atoi(userArg)
	gidArg, gidErr := strconv.Atoi(groupArg)

	passwd, err := readInRoot(rootfs, "/etc/passwd")
	if err != nil {
		return specs.User{}, err
	}
	var u specs.User
	matched := ""
	found := false
	if passwd != nil {
		for _, e := range parsePasswd(passwd) {
			var ok bool
			switch {
			case userArg == "":
				ok = e.uid == 0
			case uidErr == nil:
				ok = e.uid == uidArg
			default:
				ok = e.name == userArg
			}
			if ok {
				matched, found = e.name, true
				u.UID, u.GID = uint32(e.uid), uint32(e.gid)
				break
			}
		}
	}
	if !found && userArg != "" {
		if uidErr != nil {
			return specs.User{}, errdefs.InvalidParameter(fmt.Sprintf("unable to find user %s: no matching entries in passwd file", userArg))
		}
		if uidArg < 0 || uidArg > maxID {
			return specs.User{}, errdefs.InvalidParameter("uids and gids must be in range 0-2147483647")
		}
		u.UID = uint32(uidArg)
	}
	if groupArg == "" && matched == "" {
		u.AdditionalGids = []uint32{u.GID}
		return u, nil
	}

	group, err := readInRoot(rootfs, "/etc/group")
	if err != nil {
		return specs.User{}, err
	}
	var groups []groupEntry
	if group != nil {
		groups = parseGroup(group)
	}
	if groupArg != "" {
		for _, g := range groups {
			if (gidErr == nil && g.gid == gidArg) || (gidErr != nil && g.name == groupArg) {
				u.GID = uint32(g.gid)
				u.AdditionalGids = []uint32{u.GID}
				return u, nil
			}
		}
		if gidErr != nil {
			return specs.User{}, errdefs.InvalidParameter(fmt.Sprintf("unable to find group %s: no matching entries in group file", groupArg))
		}
		if gidArg < 0 || gidArg > maxID {
			return specs.User{}, errdefs.InvalidParameter("uids and gids must be in range 0-2147483647")
		}
		u.GID = uint32(gidArg)
		u.AdditionalGids = []uint32{u.GID}
		return u, nil
	}
	// The primary group is also a supplementary one, as in Docker and containerd,
	// so that a negative group permission cannot be bypassed with setgroups.
	u.AdditionalGids = []uint32{u.GID}
	for _, g := range groups {
		if uint32(g.gid) == u.GID {
			continue
		}
		for _, m := range g.members {
			if m == matched {
				u.AdditionalGids = append(u.AdditionalGids, uint32(g.gid))
				break
			}
		}
	}
	return u, nil
}

// readInRoot reads a regular file at path inside root without following any
// symlink out of root. A missing file gives nil, nil.
func readInRoot(root, path string) ([]byte, error) {
	h, err := pathrs.OpenInRoot(root, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s in rootfs: %w", path, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat %s in rootfs: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("%s in rootfs is not a regular file", path))
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", path, err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxUserFile))
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	forLines(b, func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || uid < 0 || uid > maxID || gid < 0 || gid > maxID {
			return
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid})
	})
	return out
}

func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	forLines(b, func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil || gid < 0 || gid > maxID {
			return
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	})
	return out
}

func forLines(b []byte, fn func([]string)) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, maxUserFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
}

// LookupID resolves a user (file /etc/passwd) or group (/etc/group) name or number to
// its id in the image at rootfs, as Dockerfile COPY --chown does: a number is taken as
// is, a name must have an entry.
func LookupID(rootfs, file, name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		if id < 0 || id > maxID {
			return 0, errdefs.InvalidParameter("uids and gids must be in range 0-2147483647")
		}
		return id, nil
	}
	what := "user"
	if file == "/etc/group" {
		what = "group"
	}
	var data []byte
	if rootfs != "" {
		var err error
		if data, err = readInRoot(rootfs, file); err != nil {
			return 0, err
		}
	}
	if data == nil {
		return 0, fmt.Errorf("open %s: no such file or directory", file)
	}
	if what == "user" {
		for _, e := range parsePasswd(data) {
			if e.name == name {
				return e.uid, nil
			}
		}
	} else {
		for _, g := range parseGroup(data) {
			if g.name == name {
				return g.gid, nil
			}
		}
	}
	return 0, fmt.Errorf("no such %s: %s", what, name)
}
