package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

var _ ImageBuilder = (*client.Client)(nil)

// BuildOptions are the inputs of BuildImage.
type BuildOptions struct {
	Context     string   // a directory, or "-" for a tar or a Dockerfile on stdin
	Dockerfile  string   // -f: "" for Context/Dockerfile, "-" for stdin; relative to the working directory
	Tags        []string // validated references
	BuildArgs   []string // KEY=VALUE, or KEY (sent without a value)
	Labels      []string // KEY[=VALUE]
	Target      string
	NoCache     bool
	Pull        bool
	Quiet       bool   // print only the image ID
	IIDFile     string // file to write the image ID to
	Platform    string // os[/arch[/variant]]
	Remove      bool   // remove intermediate containers after a successful build
	ForceRemove bool
	Network     string // networking mode of RUN; "" or "default" for the daemon's default
	ExtraHosts  []string
	Compress    bool   // gzip a directory context before sending it
	Progress    string // auto (timings on a terminal), plain, tty (timings)
}

// ImageBuilder is what building an image needs from the daemon.
type ImageBuilder interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
}

// addBuildCommands registers build at the top level and under image.
func addBuildCommands(root *cobra.Command, c *CLI) {
	root.AddCommand(newBuildCommand(c))
	for _, sub := range root.Commands() {
		if sub.Name() == "image" || sub.Name() == "builder" {
			sub.AddCommand(newBuildCommand(c))
		}
	}
}

func newBuildCommand(c *CLI) *cobra.Command {
	opts := BuildOptions{}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Context = args[0]
			// The daemon is reached (and started) only once the context is known to be good.
			return BuildImage(cmd.Context(), lazyBuilder{c}, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.VarP(newListValue(&opts.Tags, validateTag), "tag", "t", `Name and optionally a tag in the "name:tag" format`)
	fs.Var(newListValue(&opts.BuildArgs, validateEnv), "build-arg", "Set build-time variables")
	fs.StringVarP(&opts.Dockerfile, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	fs.Var(newListValue(&opts.Labels, validateLabel), "label", "Set metadata for an image")
	fs.StringVar(&opts.Target, "target", "", "Set the target build stage to build.")
	fs.BoolVar(&opts.NoCache, "no-cache", false, "Do not use cache when building the image")
	fs.BoolVar(&opts.Pull, "pull", false, "Always attempt to pull a newer version of the image")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	fs.StringVar(&opts.IIDFile, "iidfile", "", "Write the image ID to the file")
	fs.StringVar(&opts.Platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	fs.BoolVar(&opts.Remove, "rm", true, "Remove intermediate containers after a successful build")
	fs.BoolVar(&opts.ForceRemove, "force-rm", false, "Always remove intermediate containers")
	fs.StringVar(&opts.Network, "network", "default", "Set the networking mode for the RUN instructions during build")
	fs.Var(newListValue(&opts.ExtraHosts, validateExtraHost), "add-host", `Add a custom host-to-IP mapping ("host:ip")`)
	fs.BoolVar(&opts.Compress, "compress", false, "Compress the build context using gzip")
	fs.Var((*progressValue)(&opts.Progress), "progress", `Set type of progress output ("auto", "plain", "tty")`)
	return cmd
}

// validateTag accepts what docker accepts as an image name for -t.
func validateTag(v string) (string, error) {
	if _, err := reference.ParseNormalizedNamed(v); err != nil {
		return "", err
	}
	return v, nil
}

// progressValue is --progress: tty (and auto on a terminal) adds each step's time.
type progressValue string

func (p *progressValue) Set(v string) error {
	switch v {
	case "auto", "plain", "tty":
		*p = progressValue(v)
		return nil
	}
	return errors.New(`must be one of "auto", "plain", "tty"`)
}

func (p *progressValue) String() string {
	if *p == "" {
		return "auto"
	}
	return string(*p)
}

func (p *progressValue) Type() string { return "string" }

// lazyBuilder connects to the daemon when the build request is made.
type lazyBuilder struct{ c *CLI }

func (l lazyBuilder) ImageBuild(ctx context.Context, body io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
	api, err := l.c.Client(ctx)
	if err != nil {
		return client.ImageBuildResult{}, err
	}
	return api.ImageBuild(ctx, body, o)
}

// BuildImage builds an image with the daemon's legacy builder as `docker build` does:
// the context is checked and sent, the daemon's output is shown as it comes (only the
// image ID with Quiet), and a failed step ends in a StatusError carrying its message
// and code.
func BuildImage(ctx context.Context, api ImageBuilder, s Streams, opts BuildOptions) error {
	var platforms []ocispec.Platform
	if opts.Platform != "" {
		p, err := parsePlatform(opts.Platform)
		if err != nil {
			return err
		}
		platforms = []ocispec.Platform{p}
	}
	if opts.IIDFile != "" {
		// Leave no stale ID behind if this build fails.
		if err := os.Remove(opts.IIDFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing image ID file: %w", err)
		}
	}
	bc, err := PrepareBuildContext(opts.Context, opts.Dockerfile, s.In)
	if err != nil {
		return err
	}
	defer bc.Close()

	out := s.Out
	progOut, buildOut := out, out
	var progBuf, buildBuf bytes.Buffer
	if opts.Quiet {
		progOut, buildOut = &progBuf, &buildBuf
	}
	var body io.ReadCloser = bc
	if opts.Compress && opts.Context != "-" {
		body = gzipStream(bc)
	}
	sending := newSendProgress(body, progOut, !opts.Quiet && isTerminal(out))
	defer sending.Close()

	bo := client.ImageBuildOptions{
		Version:        build.BuilderV1,
		Tags:           opts.Tags,
		Dockerfile:     bc.Dockerfile,
		SuppressOutput: opts.Quiet,
		NoCache:        opts.NoCache,
		Remove:         opts.Remove,
		ForceRemove:    opts.ForceRemove,
		PullParent:     opts.Pull,
		NetworkMode:    opts.Network,
		ExtraHosts:     opts.ExtraHosts,
		Target:         opts.Target,
		Platforms:      platforms,
		BuildArgs:      buildArgsMap(opts.BuildArgs),
		AuthConfigs:    buildAuthConfigs(),
	}
	if len(opts.Labels) > 0 {
		bo.Labels = kvMap(opts.Labels)
	}
	resp, err := api.ImageBuild(ctx, sending, bo)
	if err != nil {
		sending.stop()
		if cerr := bc.Err(); cerr != nil {
			return cerr
		}
		if opts.Quiet {
			_, _ = s.Err.Write(progBuf.Bytes())
		}
		return err
	}
	defer resp.Body.Close()

	imageID := ""
	aux := func(m jsonstream.Message) {
		var r build.Result
		if err := json.Unmarshal(*m.Aux, &r); err != nil {
			fmt.Fprintf(s.Err, "Failed to parse aux message: %s", err)
			return
		}
		imageID = r.ID
	}
	// The daemon answers once it has the whole context: wait until it was all sent so
	// the "Sending build context" line comes first.
	stream := &gatedReader{r: resp.Body, gate: sending.done, ctx: ctx}
	fd, tty := term.GetFdInfo(buildOut)
	display := buildOut
	var timer *stepTimer
	if !opts.Quiet && (opts.Progress == "tty" || (opts.Progress == "" || opts.Progress == "auto") && tty) {
		timer = &stepTimer{w: buildOut, now: time.Now}
		display = timer
	}
	err = jsonmessage.DisplayJSONMessagesStream(stream, display, fd, tty, aux)
	if timer != nil {
		timer.close()
	}
	sending.stop()
	if err != nil {
		if cerr := bc.Err(); cerr != nil {
			return cerr
		}
		var jerr *jsonstream.Error
		if errors.As(err, &jerr) {
			if opts.Quiet {
				_, _ = s.Err.Write(progBuf.Bytes())
				_, _ = s.Err.Write(buildBuf.Bytes())
			}
			code := jerr.Code
			if code == 0 {
				code = 1
			}
			return StatusError{Status: jerr.Message, StatusCode: code}
		}
		return err
	}
	if opts.Quiet {
		quietOut := buildBuf.String()
		if strings.TrimSpace(quietOut) == "" && imageID != "" {
			quietOut = imageID + "\n"
		}
		fmt.Fprint(out, quietOut)
		if imageID == "" {
			imageID = strings.TrimSpace(quietOut)
		}
	}
	if opts.IIDFile != "" {
		if imageID == "" {
			return fmt.Errorf("server did not provide an image ID. Cannot write %s", opts.IIDFile)
		}
		if err := os.WriteFile(opts.IIDFile, []byte(imageID), 0o666); err != nil {
			return err
		}
	}
	return nil
}

// buildArgsMap turns KEY=VALUE into KEY: VALUE and a bare KEY into KEY: null, as docker sends them.
func buildArgsMap(args []string) map[string]*string {
	if len(args) == 0 {
		return nil
	}
	m := make(map[string]*string, len(args))
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = &v
		} else {
			m[k] = nil
		}
	}
	return m
}

// buildAuthConfigs returns the stored credentials of every registry named in the
// config files, for the daemon to pull base images with (berth's file wins).
func buildAuthConfigs() map[string]registry.AuthConfig {
	m := map[string]registry.AuthConfig{}
	for _, dir := range []string{BerthConfigDir(), dockerConfigDir()} {
		cf, err := LoadConfigFile(filepath.Join(dir, "config.json"))
		if err != nil {
			continue
		}
		keys := make([]string, 0, len(cf.Auths)+len(cf.CredHelpers))
		for k := range cf.Auths {
			keys = append(keys, serverKey(k))
		}
		for k := range cf.CredHelpers {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if _, done := m[k]; done {
				continue
			}
			if ac, ok := cf.lookup(k); ok {
				m[k] = ac
			}
		}
	}
	return m
}

// gzipStream compresses r as it is read.
func gzipStream(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, r)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		_ = pw.CloseWithError(err)
	}()
	return pr
}

// sendProgress counts the context bytes read by the HTTP client and prints docker's
// "Sending build context to Docker daemon" line: updated in place on a terminal, once
// at the end otherwise. done is closed when the body is used up or closed.
type sendProgress struct {
	r   io.Reader
	c   io.Closer // nil when r cannot be closed
	out io.Writer
	tty bool

	mu        sync.Mutex
	n, shown  int64
	lastShown time.Time
	stopped   bool

	done     chan struct{}
	doneOnce sync.Once
}

func newSendProgress(r io.Reader, out io.Writer, tty bool) *sendProgress {
	p := &sendProgress{r: r, out: out, tty: tty, done: make(chan struct{})}
	p.c, _ = r.(io.Closer)
	return p
}

const sendingContext = "Sending build context to Docker daemon"

func (p *sendProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	p.n += int64(n)
	if err != nil {
		if !p.stopped {
			p.stopped = true
			fmt.Fprintf(p.out, "%s %8v\r\r\n", sendingContext, units.HumanSize(float64(p.n)))
		}
	} else if p.tty && !p.stopped && p.n-p.shown > 512<<10 && time.Since(p.lastShown) >= 100*time.Millisecond {
		p.shown, p.lastShown = p.n, time.Now()
		fmt.Fprintf(p.out, "%s %8v\r", sendingContext, units.HumanSize(float64(p.n)))
	}
	p.mu.Unlock()
	if err != nil {
		p.finish()
	}
	return n, err
}

// Close marks the body as done; the HTTP client calls it once it is through with it.
func (p *sendProgress) Close() error {
	p.finish()
	if p.c != nil {
		return p.c.Close()
	}
	return nil
}

func (p *sendProgress) finish() { p.doneOnce.Do(func() { close(p.done) }) }

// stop ends all output: the HTTP client may still read the body after we are done.
func (p *sendProgress) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.finish()
}

// gatedReader holds reads back until gate is closed or ctx ends.
type gatedReader struct {
	r    io.Reader
	gate <-chan struct{}
	ctx  context.Context
}

func (g *gatedReader) Read(b []byte) (int, error) {
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-g.ctx.Done():
			return 0, g.ctx.Err()
		}
		g.gate = nil
	}
	return g.r.Read(b)
}

// stepTimer passes the build output through and ends each step with its duration
// (" ---> 0.31s"), for --progress=tty.
type stepTimer struct {
	w      io.Writer
	now    func() time.Time
	start  time.Time
	inStep bool
	buf    []byte
}

func (s *stepTimer) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		line := s.buf[:i+1]
		if bytes.HasPrefix(line, []byte("Step ")) || bytes.HasPrefix(line, []byte("Successfully built ")) {
			s.finish()
			if line[0] == 'S' && line[1] == 't' {
				s.start, s.inStep = s.now(), true
			}
		}
		if _, err := s.w.Write(line); err != nil {
			return 0, err
		}
		s.buf = s.buf[i+1:]
	}
	return len(p), nil
}

func (s *stepTimer) finish() {
	if s.inStep {
		fmt.Fprintf(s.w, " ---> %.2fs\n", s.now().Sub(s.start).Seconds())
		s.inStep = false
	}
}

// close writes what is left (a last line without a newline).
func (s *stepTimer) close() {
	if len(s.buf) > 0 {
		s.w.Write(s.buf)
		s.buf = nil
	}
}
