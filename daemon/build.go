package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/internal/keylock"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/patternmatcher"
	"golang.org/x/sys/unix"
)

const bucketBuildCache = "buildcache"

// buildStepLabel marks the containers RUN steps run in: a berthd that starts finds any
// left by a build that ended with the previous berthd, and removes them.
const buildStepLabel = "berth.build-step"

// BuildOptions is what POST /build carries (the legacy builder's parameters).
type BuildOptions struct {
	Context     io.Reader // a tar of the build context
	Dockerfile  string    // its path in the context ("" = Dockerfile)
	Tags        []string
	BuildArgs   map[string]*string
	Labels      map[string]string
	Target      string
	NoCache     bool
	Pull        bool
	Quiet       bool
	Platform    string
	NetworkMode string   // RUN steps' network (--network)
	ExtraHosts  []string // RUN steps' --add-host
	Out         func(jsonstream.Message)
}

// defaultBuildArgs are Docker's predefined ARGs, usable without being declared.
var defaultBuildArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true,
}

type buildStage struct {
	stage instructions.Stage
	done  chan struct{} // closed when the stage ended (when it is built at all)
	image *image.Image  // its result once built (nil when it failed)
}

// builder runs one build; each stage gets its own copy (forStage), and stages that do
// not depend on each other run in parallel.
type builder struct {
	d      *Daemon
	o      BuildOptions
	dir    string // the unpacked context
	stages []*buildStage
	global []string // global ARGs (before the first FROM) with their values
	escape rune
	lex    *shell.Lex // not safe for concurrent use: each stage builder has its own
	shared *buildShared
	out    func(jsonstream.Message) // this stage's output (the build's outside stages)
	stage  int                      // the stage this copy builds
	step   int
	steps  int
}

// buildShared is the state of one build that its stages share.
type buildShared struct {
	mu      sync.Mutex
	usedArg map[string]bool
	scratch []string                // downloads, removed at the end
	bases   map[string]*image.Image // FROM and --from images by reference and platform
	pulls   keylock.Locks[string]   // one lookup or pull of each at a time
}

// Build runs a Dockerfile build and returns the resulting image's ID.
func (d *Daemon) Build(ctx context.Context, o BuildOptions) (string, error) {
	if o.Out == nil {
		o.Out = func(jsonstream.Message) {}
	}
	tmpRoot := filepath.Join(d.cfg.DataRoot, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return "", err
	}
	dir, err := d.unpackContext(ctx, tmpRoot, o.Context)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	name := o.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	dfPath, err := securejoin.SecureJoin(dir, name)
	if err != nil {
		return "", err
	}
	df, err := os.ReadFile(dfPath)
	if err != nil {
		return "", errdefs.InvalidParameter(fmt.Sprintf("Cannot locate specified Dockerfile: %s", name))
	}
	if err := dropIgnoredBuildFiles(dir, name); err != nil {
		return "", err
	}
	res, err := parser.Parse(bytes.NewReader(df))
	if err != nil {
		return "", errdefs.InvalidParameter(fmt.Sprintf("failed to parse %s: %v", name, err))
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return "", errdefs.InvalidParameter(fmt.Sprintf("failed to parse %s: %v", name, err))
	}
	if len(stages) == 0 {
		return "", errdefs.InvalidParameter("failed to parse " + name + ": no build stage in current context")
	}
	b := &builder{d: d, o: o, dir: dir, escape: res.EscapeToken, lex: shell.NewLex(res.EscapeToken),
		shared: &buildShared{usedArg: map[string]bool{}, bases: map[string]*image.Image{}}, out: o.Out, stage: len(stages)}
	defer func() {
		for _, s := range b.shared.scratch {
			os.RemoveAll(s)
		}
	}()
	// Global ARGs (before the first FROM) are visible in FROM lines.
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if v, ok := b.argValue(kv.Key, kv.Value); ok {
				b.global = append(b.global, kv.Key+"="+v)
			}
		}
	}
	for i := range stages {
		b.stages = append(b.stages, &buildStage{stage: stages[i]})
	}
	last := len(stages) - 1
	if o.Target != "" {
		last = -1
		for i, s := range stages {
			if strings.EqualFold(s.Name, o.Target) {
				last = i
			}
		}
		if last < 0 {
			return "", errdefs.InvalidParameter(fmt.Sprintf("failed to reach build target %s in Dockerfile", o.Target))
		}
	}
	need := b.neededStages(last)
	var order []int
	first := map[int]int{} // a stage's first step number, less one
	for i := 0; i <= last; i++ {
		if need[i] {
			order = append(order, i)
			first[i] = b.steps
			b.steps += 1 + len(stages[i].Commands)
		}
	}
	if err := b.buildStages(ctx, order, first); err != nil {
		return "", err
	}
	img := b.stages[last].image
	for k := range o.BuildArgs {
		if !b.shared.usedArg[k] && !defaultBuildArgs[k] {
			b.say("[Warning] One or more build-args [%s] were not consumed\n", k)
		}
	}
	if len(o.Labels) > 0 {
		cfg := imageToConfig(img)
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for k, v := range o.Labels {
			cfg.Labels[k] = v
		}
		if img, err = b.commitConfig(ctx, img, cfg, ""); err != nil {
			return "", err
		}
	}
	b.o.Out(jsonstream.Message{Aux: auxID(img.ID)})
	if o.Quiet {
		o.Out(jsonstream.Message{Stream: img.ID + "\n"})
	}
	b.say("Successfully built %s\n", shortID(strings.TrimPrefix(img.ID, "sha256:")))
	for _, t := range o.Tags {
		ref, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return "", errdefs.InvalidParameter(fmt.Sprintf("invalid reference format: %s", t))
		}
		ref = reference.TagNameOnly(ref)
		if err := d.images.Tag(ctx, img.ID, ref); err != nil {
			return "", err
		}
		b.say("Successfully tagged %s\n", reference.FamiliarString(ref))
	}
	return img.ID, nil
}

// contextInMemoryMax is the largest context tar unpacked into tmpfs: creating thousands of
// small files there takes milliseconds where a journaling disk takes tenths of a second.
const contextInMemoryMax = 256 << 20

// unpackContext spools the context tar to disk (one sequential file), then unpacks it
// into a tmpfs directory when it is small and tmpfs has room, else next to the spool.
func (d *Daemon) unpackContext(ctx context.Context, tmpRoot string, r io.Reader) (string, error) {
	spool, err := os.CreateTemp(tmpRoot, "context-*.tar")
	if err != nil {
		return "", err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	var size int64
	if r != nil {
		if size, err = io.Copy(spool, r); err != nil {
			return "", errdefs.InvalidParameter(fmt.Sprintf("failed to read the build context: %v", err))
		}
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	base := tmpRoot
	var st unix.Statfs_t
	if size <= contextInMemoryMax && unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC &&
		int64(st.Bavail)*int64(st.Bsize) > 4*size+(64<<20) {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "berth-build-")
	if err != nil {
		return "", err
	}
	if size > 0 {
		if _, err := archive.Apply(ctx, dir, spool, archive.Options{Whiteouts: archive.WhiteoutNone, KeepRoot: true}); err != nil {
			os.RemoveAll(dir)
			return "", errdefs.InvalidParameter(fmt.Sprintf("failed to read the build context: %v", err))
		}
	}
	return dir, nil
}

func auxID(id string) *json.RawMessage {
	raw := json.RawMessage(`{"ID":"` + id + `"}`)
	return &raw
}

// addScratch notes a directory to remove when the build ends.
func (b *builder) addScratch(dir string) {
	b.shared.mu.Lock()
	b.shared.scratch = append(b.shared.scratch, dir)
	b.shared.mu.Unlock()
}

func (b *builder) say(f string, a ...any) {
	if !b.o.Quiet {
		b.out(jsonstream.Message{Stream: fmt.Sprintf(f, a...)})
	}
}

// argValue is a declared ARG's value: the --build-arg, else its default.
func (b *builder) argValue(key string, def *string) (string, bool) {
	if v, ok := b.o.BuildArgs[key]; ok && v != nil {
		b.shared.mu.Lock()
		b.shared.usedArg[key] = true
		b.shared.mu.Unlock()
		return *v, true
	}
	if def != nil {
		return *def, true
	}
	return "", false
}

// neededStages marks the stages the target depends on.
func (b *builder) neededStages(target int) map[int]bool {
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, j := range b.deps(i) {
			visit(j)
		}
	}
	visit(target)
	return need
}

// deps are the earlier stages stage i uses: FROM stage, COPY --from=stage and
// RUN --mount=from=stage.
func (b *builder) deps(i int) []int {
	s := b.stages[i].stage
	var out []int
	add := func(ref string) {
		if j := b.stageIndex(ref, i); j >= 0 {
			out = append(out, j)
		}
	}
	if base, _, err := b.lex.ProcessWord(s.BaseName, shell.EnvsFromSlice(b.global)); err == nil {
		add(base)
	}
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				add(c.From)
			}
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				if m.From != "" {
					add(m.From)
				}
			}
		}
	}
	return out
}

// buildStages builds the stages in order, each as soon as the stages it uses are
// built, so independent ones run in parallel. Their output keeps the Dockerfile's
// order (a stage's lines are held until the stages before it have printed theirs).
// The first failure cancels the other stages and is the build's error.
func (b *builder) buildStages(ctx context.Context, order []int, first map[int]int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := newStageOutput(b.out, order)
	deps := map[int][]int{} // worked out here: the lexer is not safe for concurrent use
	for _, i := range order {
		b.stages[i].done = make(chan struct{})
		deps[i] = b.deps(i)
	}
	var (
		mu     sync.Mutex
		failed error
		wg     sync.WaitGroup
	)
	for _, i := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(b.stages[i].done)
			var err error
			for _, j := range deps[i] {
				if err = b.waitStage(ctx, j); err != nil {
					break
				}
			}
			if err == nil {
				sb := *b
				sb.lex, sb.out, sb.stage, sb.step = shell.NewLex(b.escape), out.writer(i), i, first[i]
				err = sb.buildStage(ctx, i)
			}
			if err == nil {
				out.finish(i)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if failed == nil && ctx.Err() == nil {
				failed = err
				out.fail(i)
				cancel()
			}
		}()
	}
	wg.Wait()
	if failed == nil {
		return ctx.Err() // the request was canceled
	}
	return failed
}

// waitStage waits for stage j to be built.
func (b *builder) waitStage(ctx context.Context, j int) error {
	done := b.stages[j].done
	if done == nil {
		return errdefs.InvalidParameter(fmt.Sprintf("stage %d is not part of this build", j))
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.stages[j].image == nil {
		return fmt.Errorf("stage %d failed", j)
	}
	return nil
}

// stageOutput passes each stage's messages on in the Dockerfile's order of stages: the
// first unfinished stage streams, the ones after it are held until it finishes.
type stageOutput struct {
	mu      sync.Mutex
	out     func(jsonstream.Message)
	order   []int
	pos     int // order[pos] streams
	held    map[int][]jsonstream.Message
	done    map[int]bool
	stopped bool
}

func newStageOutput(out func(jsonstream.Message), order []int) *stageOutput {
	return &stageOutput{out: out, order: order, held: map[int][]jsonstream.Message{}, done: map[int]bool{}}
}

func (o *stageOutput) writer(stage int) func(jsonstream.Message) {
	return func(m jsonstream.Message) {
		o.mu.Lock()
		defer o.mu.Unlock()
		switch {
		case o.stopped:
		case o.pos < len(o.order) && o.order[o.pos] == stage:
			o.out(m)
		default:
			o.held[stage] = append(o.held[stage], m)
		}
	}
}

// finish marks a stage built and lets the next ones print what they hold.
func (o *stageOutput) finish(stage int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[stage] = true
	for !o.stopped && o.pos < len(o.order) && o.done[o.order[o.pos]] {
		o.pos++
		if o.pos < len(o.order) {
			next := o.order[o.pos]
			for _, m := range o.held[next] {
				o.out(m)
			}
			delete(o.held, next)
		}
	}
}

// fail prints what the failed stage holds and nothing more from any stage.
func (o *stageOutput) fail(stage int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	for _, m := range o.held[stage] {
		o.out(m)
	}
	o.stopped = true
}

// stageIndex finds an earlier stage by name or index, or -1.
func (b *builder) stageIndex(ref string, before int) int {
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < before {
		return n
	}
	for i := 0; i < before; i++ {
		if b.stages[i].stage.Name != "" && strings.EqualFold(b.stages[i].stage.Name, ref) {
			return i
		}
	}
	return -1
}

// stageState is the image being built in a stage and the ARGs in scope.
type stageState struct {
	img  *image.Image
	cfg  container.Config
	args map[string]string // ARGs declared in this stage with their values
}

func (st *stageState) env() []string {
	env := append([]string{}, st.cfg.Env...)
	for k, v := range st.args {
		if !envHas(env, k) {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func envHas(env []string, k string) bool {
	for _, kv := range env {
		if envKey(kv) == k {
			return true
		}
	}
	return false
}

func (b *builder) buildStage(ctx context.Context, idx int) error {
	s := b.stages[idx].stage
	base, _, err := b.lex.ProcessWord(s.BaseName, shell.EnvsFromSlice(b.global))
	if err != nil {
		return errdefs.InvalidParameter(err.Error())
	}
	b.step++
	b.say("Step %d/%d : %s\n", b.step, b.steps, s.SourceCode)
	st := &stageState{args: map[string]string{}}
	switch j := b.stageIndex(base, idx); {
	case j >= 0:
		st.img = b.stages[j].image
	case base == "scratch":
		st.img = &image.Image{}
		st.img.Config.OS, st.img.Config.Architecture = "linux", goarch()
	default:
		platform := b.o.Platform
		if s.Platform != "" {
			if platform, _, err = b.lex.ProcessWord(s.Platform, shell.EnvsFromSlice(b.global)); err != nil {
				return errdefs.InvalidParameter(err.Error())
			}
		}
		img, err := b.baseImage(ctx, base, platform)
		if err != nil {
			return err
		}
		st.img = img
	}
	if st.img.ID != "" {
		b.say(" ---> %s\n", shortID(strings.TrimPrefix(st.img.ID, "sha256:")))
	}
	st.cfg = imageToConfig(st.img)
	// The base image's ONBUILD triggers run first, as docker does; they are not inherited.
	triggers := st.cfg.OnBuild
	st.cfg.OnBuild = nil
	for _, tr := range triggers {
		res, err := parser.Parse(strings.NewReader(tr))
		if err != nil || len(res.AST.Children) != 1 {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid ONBUILD trigger %q: %v", tr, err))
		}
		cmd, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid ONBUILD trigger %q: %v", tr, err))
		}
		b.say("# Executing 1 build trigger\n")
		if err := b.runCommand(ctx, st, cmd); err != nil {
			return err
		}
	}
	for _, cmd := range s.Commands {
		b.step++
		b.say("Step %d/%d : %s\n", b.step, b.steps, cmd.(interface{ String() string }).String())
		if err := b.runCommand(ctx, st, cmd); err != nil {
			return err
		}
	}
	if st.img.ID == "" { // FROM scratch with nothing else
		img, err := b.commitConfig(ctx, st.img, st.cfg, "")
		if err != nil {
			return err
		}
		st.img = img
	}
	b.stages[idx].image = st.img
	return nil
}

func goarch() string {
	a, _ := os.ReadFile("/proc/sys/kernel/arch")
	switch strings.TrimSpace(string(a)) {
	case "aarch64":
		return "arm64"
	}
	return "amd64"
}

// baseImage returns FROM's image, pulling it when missing (or always with --pull), once
// per build: stages running in parallel from the same image wait for one pull.
func (b *builder) baseImage(ctx context.Context, ref, platform string) (*image.Image, error) {
	key := ref + "|" + platform
	unlock, err := b.shared.pulls.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b.shared.mu.Lock()
	img := b.shared.bases[key]
	b.shared.mu.Unlock()
	if img != nil {
		return img, nil
	}
	img, err = b.findOrPull(ctx, ref, platform)
	if err == nil {
		b.shared.mu.Lock()
		b.shared.bases[key] = img
		b.shared.mu.Unlock()
	}
	return img, err
}

func (b *builder) findOrPull(ctx context.Context, ref, platform string) (*image.Image, error) {
	if !b.o.Pull {
		if img, err := b.d.images.Get(ctx, ref); err == nil && checkPlatform(img, ref, platform) == nil {
			return img, nil
		}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid reference format: %s", ref))
	}
	named = reference.TagNameOnly(named)
	tag := ""
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if err := b.d.Pull(ctx, reference.FamiliarName(named), tag, platform, func(m jsonstream.Message) {
		if !b.o.Quiet && m.Status != "" && m.ID == "" {
			b.out(jsonstream.Message{Stream: m.Status + "\n"})
		}
	}); err != nil {
		return nil, err
	}
	return b.d.images.Get(ctx, reference.FamiliarString(named))
}

// imageToConfig is the container config an image's config describes.
func imageToConfig(img *image.Image) container.Config {
	ic := img.Config.Config
	cfg := container.Config{
		User: ic.User, Env: append([]string{}, ic.Env...), Entrypoint: append([]string(nil), ic.Entrypoint...),
		Cmd: append([]string(nil), ic.Cmd...), WorkingDir: ic.WorkingDir, StopSignal: ic.StopSignal,
		Shell: append([]string(nil), ic.Shell...), OnBuild: append([]string(nil), ic.OnBuild...),
	}
	if h := ic.Healthcheck; h != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if len(ic.Labels) > 0 {
		cfg.Labels = map[string]string{}
		for k, v := range ic.Labels {
			cfg.Labels[k] = v
		}
	}
	if len(ic.Volumes) > 0 {
		cfg.Volumes = map[string]struct{}{}
		for k := range ic.Volumes {
			cfg.Volumes[k] = struct{}{}
		}
	}
	if len(ic.ExposedPorts) > 0 {
		cfg.ExposedPorts = addImagePorts(nil, ic.ExposedPorts)
	}
	return cfg
}

// cacheKey is a step's key: its parent image, its text and what else decides its result.
func cacheKey(parent string, parts ...string) string {
	h := sha256.New()
	io.WriteString(h, parent)
	for _, p := range parts {
		io.WriteString(h, "\x00"+p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type cacheRecord struct {
	ImageID string
	Created time.Time
}

// cached returns the image a step with this key made before, if it still exists.
// cachedStep ends a step whose cache key is key: the cached image when there is one,
// else the one make commits, remembered under key. It becomes the stage's image, and
// cfg (when set) its config.
func (b *builder) cachedStep(ctx context.Context, st *stageState, key string, cfg *container.Config, make func() (*image.Image, error)) error {
	img := b.cached(ctx, key)
	if img != nil {
		b.say(" ---> Using cache\n")
	} else {
		var err error
		if img, err = make(); err != nil {
			return err
		}
		b.remember(key, img)
	}
	b.say(" ---> %s\n", shortID(strings.TrimPrefix(img.ID, "sha256:")))
	st.img = img
	if cfg != nil {
		st.cfg = *cfg
	}
	return nil
}

func (b *builder) cached(ctx context.Context, key string) *image.Image {
	if b.o.NoCache {
		return nil
	}
	var rec cacheRecord
	if err := b.d.db.Get(bucketBuildCache, key, &rec); err != nil {
		return nil
	}
	img, err := b.d.images.Get(ctx, rec.ImageID)
	if err != nil {
		return nil
	}
	return img
}

func (b *builder) remember(key string, img *image.Image) {
	if err := b.d.db.Put(bucketBuildCache, key, cacheRecord{ImageID: img.ID, Created: time.Now().UTC()}); err != nil {
		b.d.log.Warn("build cache", "err", err)
	}
}

// runCommand applies one instruction to the stage's state.
func (b *builder) runCommand(ctx context.Context, st *stageState, cmd instructions.Command) error {
	env := shell.EnvsFromSlice(st.env())
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(func(w string) (string, error) {
			out, _, err := b.lex.ProcessWord(w, env)
			return out, err
		}); err != nil {
			return errdefs.InvalidParameter(err.Error())
		}
	}
	// COPY <<EOF bodies: variables expanded (unless the delimiter is quoted), quotes kept.
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		lex := shell.NewLex('\\')
		lex.SkipProcessQuotes = true
		if err := ex.ExpandRaw(func(w string) (string, error) {
			out, _, err := lex.ProcessWord(w, env)
			return out, err
		}); err != nil {
			return errdefs.InvalidParameter(err.Error())
		}
	}
	text := cmd.(interface{ String() string }).String()
	nop := func(change func(cfg *container.Config)) error {
		cfg := cloneConfig(st.cfg)
		change(&cfg)
		return b.cachedStep(ctx, st, cacheKey(st.img.ID, "nop", text, b.argsKey(st)), &cfg, func() (*image.Image, error) {
			return b.commitConfig(ctx, st.img, cfg, "/bin/sh -c #(nop)  "+nopText(cmd, &cfg, text))
		})
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		return nop(func(cfg *container.Config) {
			for _, kv := range c.Env {
				cfg.Env = mergeEnv(cfg.Env, []string{kv.Key + "=" + kv.Value})
			}
		})
	case *instructions.LabelCommand:
		return nop(func(cfg *container.Config) {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				cfg.Labels[kv.Key] = kv.Value
			}
		})
	case *instructions.MaintainerCommand:
		return nop(func(cfg *container.Config) {})
	case *instructions.ExposeCommand:
		var ports []network.Port
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			port, err := network.ParsePort(p)
			if err != nil {
				return errdefs.InvalidParameter(fmt.Sprintf("invalid containerPort: %s", p))
			}
			ports = append(ports, port)
		}
		return nop(func(cfg *container.Config) {
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = network.PortSet{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		})
	case *instructions.VolumeCommand:
		return nop(func(cfg *container.Config) {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			for _, v := range c.Volumes {
				cfg.Volumes[v] = struct{}{}
			}
		})
	case *instructions.UserCommand:
		return nop(func(cfg *container.Config) { cfg.User = c.User })
	case *instructions.CmdCommand:
		return nop(func(cfg *container.Config) { cfg.Cmd = b.commandLine(st, c.CmdLine, c.PrependShell) })
	case *instructions.EntrypointCommand:
		return nop(func(cfg *container.Config) { cfg.Entrypoint = b.commandLine(st, c.CmdLine, c.PrependShell) })
	case *instructions.ShellCommand:
		return nop(func(cfg *container.Config) { cfg.Shell = append([]string{}, c.Shell...) })
	case *instructions.StopSignalCommand:
		return nop(func(cfg *container.Config) { cfg.StopSignal = c.Signal })
	case *instructions.OnbuildCommand:
		return nop(func(cfg *container.Config) { cfg.OnBuild = append(cfg.OnBuild, c.Expression) })
	case *instructions.HealthCheckCommand:
		return nop(func(cfg *container.Config) {
			h := c.Health
			cfg.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		})
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			if v, ok := b.argValue(kv.Key, kv.Value); ok {
				st.args[kv.Key] = v
			} else {
				st.args[kv.Key] = ""
			}
		}
		return nop(func(cfg *container.Config) {})
	case *instructions.WorkdirCommand:
		dir := c.Path
		if !path.IsAbs(dir) {
			dir = path.Join("/", st.cfg.WorkingDir, dir)
		}
		return b.workdir(ctx, st, dir, text)
	case *instructions.RunCommand:
		return b.run(ctx, st, c, text)
	case *instructions.CopyCommand:
		return b.copy(ctx, st, c.SourcesAndDest, c.From, c.Chown, c.Chmod, "", text, false)
	case *instructions.AddCommand:
		return b.copy(ctx, st, c.SourcesAndDest, "", c.Chown, c.Chmod, c.Checksum, text, true)
	}
	return errdefs.InvalidParameter(fmt.Sprintf("unsupported instruction: %s", text))
}

// nopText is a metadata step's history entry as docker's classic builder writes it
// (exec forms as Go-quoted lists: CMD ["python3" "app.py"]).
func nopText(cmd instructions.Command, cfg *container.Config, text string) string {
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		return fmt.Sprintf("CMD %q", []string(cfg.Cmd))
	case *instructions.EntrypointCommand:
		return fmt.Sprintf("ENTRYPOINT %q", []string(cfg.Entrypoint))
	case *instructions.ShellCommand:
		return fmt.Sprintf("SHELL %q", c.Shell)
	}
	return text
}

// argsKey is the part of a cache key the stage's ARG values make.
func (b *builder) argsKey(st *stageState) string {
	keys := make([]string, 0, len(st.args))
	for k := range st.args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k + "=" + st.args[k] + "\x00")
	}
	return sb.String()
}

// commandLine turns a shell-form command into the stage's shell invocation.
func (b *builder) commandLine(st *stageState, cmd []string, shellForm bool) []string {
	if !shellForm {
		return append([]string{}, cmd...)
	}
	sh := st.cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(cmd, " "))
}

// commitConfig records an image with parent's layers and cfg, with an empty-layer
// history entry createdBy (none when createdBy is empty).
func (b *builder) commitConfig(ctx context.Context, parent *image.Image, cfg container.Config, createdBy string) (*image.Image, error) {
	return b.d.images.Commit(ctx, image.CommitOptions{Parent: parent, Config: imageConfig(&cfg), CreatedBy: createdBy})
}

// withContainer creates a container of the stage's image (cmd when set), lets work use
// it, commits its changes with cfg and removes it.
func (b *builder) withContainer(ctx context.Context, st *stageState, cmd []string, hc *container.HostConfig, work func(*Container) error, cfg container.Config, createdBy string) (*image.Image, error) {
	parent := st.img
	if parent.ID == "" { // FROM scratch: give it an image to start from
		img, err := b.commitConfig(ctx, parent, st.cfg, "")
		if err != nil {
			return nil, err
		}
		parent, st.img = img, img
	}
	ccfg := cloneConfig(st.cfg)
	ccfg.Image = parent.ID
	ccfg.Env = st.env()
	ccfg.Entrypoint = nil
	ccfg.Cmd = cmd
	if len(cmd) == 0 {
		ccfg.Cmd = []string{"/bin/sh"} // never started
	}
	ccfg.Labels = map[string]string{buildStepLabel: "1"}
	ccfg.Volumes = nil
	ccfg.ExposedPorts = nil
	if hc == nil {
		hc = &container.HostConfig{}
	}
	c, err := b.d.Create(ctx, CreateOptions{Config: &ccfg, HostConfig: hc})
	if err != nil {
		return nil, err
	}
	defer b.d.Remove(context.WithoutCancel(ctx), c.ID, true, true)
	if err := work(c); err != nil {
		return nil, err
	}
	c.mu.Lock()
	mounts, dir := c.RootfsMounts, c.Dir
	c.mu.Unlock()
	upper, err := snapshot.WritableDir(mounts)
	if err != nil {
		return nil, err
	}
	// The stopped container's writable layer becomes the step's layer as it is (no copy
	// unpacked from the tar, nothing to delete with the container) once the engine's
	// mount points are out of it; when its root is still mounted, the tar is unpacked.
	active := ""
	if !isMountpoint(filepath.Join(dir, "rootfs")) && dropEngineMountpoints(upper) == nil {
		active = c.ID
	}
	// A diff without entries (commit's exclusions applied) adds history but no layer.
	layer := func(w io.Writer) error {
		return archive.WriteDiff(ctx, w, upper, archive.DiffOptions{Lower: snapshot.LowerDirs(mounts), Exclude: excludedChange})
	}
	return b.d.images.Commit(ctx, image.CommitOptions{Parent: parent, Config: imageConfig(&cfg), CreatedBy: createdBy, Layer: layer, Rootfs: active})
}

// isMountpoint reports whether p is mounted on (or cannot be told).
func isMountpoint(p string) bool {
	var st, parent unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return !errors.Is(err, unix.ENOENT)
	}
	if err := unix.Lstat(filepath.Dir(p), &parent); err != nil {
		return true
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

// dropEngineMountpoints removes from a stopped container's upper directory what the
// runtime made there as mount points (excludedChange's paths), never following a
// symlink the container left on the way.
func dropEngineMountpoints(upper string) error {
	for _, p := range []string{"dev", "proc", "sys", ".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf"} {
		if dir, _ := path.Split(p); dir != "" {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(upper, dir), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue // no such directory in the upper layer (or not a real one)
			}
		}
		if err := os.RemoveAll(filepath.Join(upper, p)); err != nil {
			return err
		}
	}
	return nil
}

// run executes a RUN step in a container and commits its changes.
func (b *builder) run(ctx context.Context, st *stageState, c *instructions.RunCommand, text string) error {
	cmd := b.commandLine(st, c.CmdLine, c.PrependShell)
	createdBy := strings.Join(cmd, " ")
	if c.PrependShell {
		createdBy = "/bin/sh -c " + strings.Join(c.CmdLine, " ")
	}
	// RUN <<EOF … EOF: the heredoc is the script.
	if c.PrependShell && len(c.Files) == 1 && strings.HasPrefix(strings.TrimSpace(strings.Join(c.CmdLine, " ")), "<<") {
		cmd = b.commandLine(st, []string{c.Files[0].Data}, true)
	}
	mounts, err := b.mountsKey(ctx, c)
	if err != nil {
		return err
	}
	return b.cachedStep(ctx, st, cacheKey(st.img.ID, "run", text, b.argsKey(st), mounts), nil, func() (*image.Image, error) {
		return b.runContainer(ctx, st, c, cmd, createdBy)
	})
}

// runContainer runs RUN's command in a container with its mounts and commits the result.
func (b *builder) runContainer(ctx context.Context, st *stageState, c *instructions.RunCommand, cmd []string, createdBy string) (*image.Image, error) {
	hc, release, err := b.runMounts(ctx, c)
	if err != nil {
		return nil, err
	}
	defer release()
	return b.withContainer(ctx, st, cmd, hc, func(ctr *Container) error {
		b.say(" ---> Running in %s\n", shortID(ctr.ID))
		out := &streamWriter{out: b.out, quiet: b.o.Quiet}
		wait, err := b.d.WaitFor(ctr.ID, string(container.WaitConditionNextExit))
		if err != nil {
			return err
		}
		attached := make(chan error, 1)
		ready := make(chan struct{})
		go func() {
			attached <- b.d.Attach(ctx, ctr.ID, AttachOptions{Stdout: out, Stderr: out, Ready: func() { close(ready) }})
		}()
		<-ready
		if err := b.d.Start(ctx, ctr.ID); err != nil {
			return err
		}
		code, err := wait(ctx)
		<-attached
		out.flush()
		if err != nil {
			return err
		}
		if code != 0 {
			return &buildError{msg: fmt.Sprintf("The command '%s' returned a non-zero code: %d", createdBy, code), code: code}
		}
		return nil
	}, cloneConfig(st.cfg), createdBy)
}

// mountsKey is what RUN's bind mounts add to its cache key: a checksum of a source in
// the context (content and metadata, as for COPY), or the ID of the stage or image a
// source comes from.
func (b *builder) mountsKey(ctx context.Context, c *instructions.RunCommand) (string, error) {
	var parts []string
	for _, m := range instructions.GetMounts(c) {
		if m.Type != instructions.MountTypeBind {
			continue
		}
		if m.From != "" {
			img, err := b.fromImage(ctx, m.From)
			if err != nil {
				return "", err
			}
			parts = append(parts, img.ID)
			continue
		}
		files, err := contextGlob(b.dir, m.Source)
		if err != nil {
			return "", errdefs.InvalidParameter(fmt.Sprintf("RUN --mount=type=bind: source %s not found in build context", m.Source))
		}
		spec := copySpec{files: files, dest: "/", destIsDir: true, uid: -1, gid: -1, mode: -1}
		sum, err := spec.write(io.Discard, "")
		if err != nil {
			return "", err
		}
		parts = append(parts, sum)
	}
	return strings.Join(parts, ","), nil
}

// runMounts turns RUN --mount options into the step container's mounts: cache (a
// directory per id kept across builds), bind (from the context or a stage, read-only
// unless rw) and tmpfs.
func (b *builder) runMounts(ctx context.Context, c *instructions.RunCommand) (*container.HostConfig, func(), error) {
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(b.o.NetworkMode), ExtraHosts: b.o.ExtraHosts}
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, m := range instructions.GetMounts(c) {
		target := m.Target
		switch m.Type {
		case instructions.MountTypeCache:
			id := m.CacheID
			if id == "" {
				id = target
			}
			sum := sha256.Sum256([]byte(id))
			dir := filepath.Join(b.d.cfg.DataRoot, "buildcache-mounts", hex.EncodeToString(sum[:16]))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				release()
				return nil, nil, err
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: dir, Target: target, ReadOnly: m.ReadOnly})
		case instructions.MountTypeBind:
			root := b.dir
			if m.From != "" {
				dir, rel, err := b.mountFrom(ctx, m.From)
				if err != nil {
					release()
					return nil, nil, err
				}
				releases = append(releases, rel)
				root = dir
			}
			src, err := securejoin.SecureJoin(root, m.Source)
			if err != nil {
				release()
				return nil, nil, err
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: m.ReadOnly})
		case instructions.MountTypeTmpfs:
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: target, TmpfsOptions: &mount.TmpfsOptions{SizeBytes: m.SizeLimit}})
		default:
			release()
			return nil, nil, errdefs.InvalidParameter(fmt.Sprintf("RUN --mount=type=%s is not supported", m.Type))
		}
	}
	return hc, release, nil
}

// buildError is a failed step, reported with its exit code as dockerd does.
type buildError struct {
	msg  string
	code int
}

func (e *buildError) Error() string { return e.msg }

// Code is the failed command's exit status.
func (e *buildError) Code() int { return e.code }

// streamWriter turns a RUN step's output into stream messages, line by line.
type streamWriter struct {
	out   func(jsonstream.Message)
	quiet bool
	buf   []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.quiet {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
		w.out(jsonstream.Message{Stream: string(w.buf[:i+1])})
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
	return len(p), nil
}

func (w *streamWriter) flush() {
	if len(w.buf) > 0 && !w.quiet {
		w.out(jsonstream.Message{Stream: string(w.buf)})
		w.buf = nil
	}
}

// dropIgnoredBuildFiles removes the Dockerfile and .dockerignore from the context when
// .dockerignore excludes them (they are sent anyway), as dockerd does, so that COPY .
// does not copy them.
func dropIgnoredBuildFiles(dir, dockerfile string) error {
	raw, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		return nil
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid .dockerignore: %v", err))
	}
	for _, f := range []string{dockerfile, ".dockerignore"} {
		rel := filepath.Clean(f)
		if ignored, _ := pm.MatchesOrParentMatches(rel); ignored {
			if p, err := securejoin.SecureJoin(dir, rel); err == nil {
				os.Remove(p)
			}
		}
	}
	return nil
}

// BuildPrune frees the build cache: the step records (older than until, when set), the
// untagged images only the cache kept, and with all the RUN --mount=type=cache directories.
func (d *Daemon) BuildPrune(ctx context.Context, all bool, until time.Time) (build.CachePruneReport, error) {
	type entry struct {
		key string
		rec cacheRecord
	}
	var entries []entry
	err := d.db.View(func(tx *metadata.Tx) error {
		return tx.ForEach(bucketBuildCache, func(k string, raw []byte) error {
			var rec cacheRecord
			if err := json.Unmarshal(raw, &rec); err == nil {
				entries = append(entries, entry{k, rec})
			}
			return nil
		})
	})
	if err != nil {
		return build.CachePruneReport{}, err
	}
	rep := build.CachePruneReport{CachesDeleted: []string{}}
	ids := map[string]bool{}
	for _, e := range entries {
		if !until.IsZero() && !e.rec.Created.Before(until) {
			continue
		}
		if err := d.db.Delete(bucketBuildCache, e.key); err != nil {
			return rep, err
		}
		rep.CachesDeleted = append(rep.CachesDeleted, e.key[:12])
		ids[e.rec.ImageID] = true
	}
	// Children first: an image others were built on cannot go before them.
	for removed := true; removed; {
		removed = false
		for id := range ids {
			img, err := d.images.Get(ctx, id)
			if err != nil || len(img.RepoTags) > 0 {
				delete(ids, id)
				continue
			}
			if _, freed, err := d.imageDelete(ctx, strings.TrimPrefix(id, "sha256:"), false, false); err == nil {
				rep.SpaceReclaimed += uint64(freed)
				delete(ids, id)
				removed = true
			}
		}
	}
	if all {
		dir := filepath.Join(d.cfg.DataRoot, "buildcache-mounts")
		filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				if fi, err := e.Info(); err == nil {
					rep.SpaceReclaimed += uint64(fi.Size())
				}
			}
			return nil
		})
		os.RemoveAll(dir)
	}
	return rep, nil
}
