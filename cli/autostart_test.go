package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// Environment of the test binary when it runs as a stand-in berthd.
const (
	envFakeSock  = "BERTH_TEST_FAKE_BERTHD_SOCK"   // serve /_ping on this socket
	envFakeFail  = "BERTH_TEST_FAKE_BERTHD_FAIL"   // print an error and exit 1 instead
	envFakeStart = "BERTH_TEST_FAKE_BERTHD_STARTS" // append a line to this file on start
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(envFakeSock); sock != "" {
		fakeBerthd(sock)
		return
	}
	os.Exit(m.Run())
}

// fakeBerthd stands in for berthd: it answers /_ping (reporting its session ID) until asked
// to exit or until a minute has passed.
func fakeBerthd(sock string) {
	if f := os.Getenv(envFakeStart); f != "" {
		if fh, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			fmt.Fprintln(fh, os.Getpid())
			fh.Close()
		}
	}
	fmt.Println("fake berthd starting")
	if os.Getenv(envFakeFail) != "" {
		fmt.Fprintln(os.Stderr, "boom: cannot open metadata.db")
		os.Exit(1)
	}
	time.Sleep(20 * time.Millisecond) // come up a little late, like a real daemon
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exit := make(chan struct{})
	var once sync.Once
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_test_exit") {
			once.Do(func() { close(exit) })
			return
		}
		sid, _ := unix.Getsid(0)
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("X-Session", strconv.Itoa(sid))
		io.WriteString(w, "OK")
	})}
	go srv.Serve(l)
	select {
	case <-exit:
	case <-time.After(time.Minute):
	}
	l.Close()
	os.Exit(0)
}

func testAutostart(t *testing.T, dir string) (*autostart, *client.Client) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host := "unix://" + filepath.Join(dir, "berth.sock")
	api, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return &autostart{host: host, dataRoot: filepath.Join(dir, "data"), bin: self, debugf: t.Logf}, api
}

// stopFake asks the stand-in daemon at sock to exit and waits for its socket to go away.
func stopFake(t *testing.T, sock string) {
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	if resp, err := c.Get("http://berth/_test_exit"); err == nil {
		resp.Body.Close()
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); os.IsNotExist(err) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("stand-in berthd at %s did not exit", sock)
}

func TestAutostartStartsDetachedDaemon(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "berth.sock")
	starts := filepath.Join(dir, "starts")
	t.Setenv(envFakeSock, sock)
	t.Setenv(envFakeStart, starts)
	a, api := testAutostart(t, dir)
	t.Cleanup(func() { stopFake(t, sock) })

	// Several berth processes racing at once start a single daemon between them.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, api := testAutostart(t, dir)
			errs[i] = b.ensure(context.Background(), api)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(b))
	if len(pids) != 1 {
		t.Fatalf("berthd started %d times: %v", len(pids), pids)
	}

	// It runs in a session of its own, so a terminal's signals do not reach it.
	resp, err := api.Ping(context.Background(), client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.APIVersion != "1.47" || api.ClientVersion() != "1.47" {
		t.Errorf("API version not negotiated: ping %q client %q", resp.APIVersion, api.ClientVersion())
	}
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	r, err := c.Get("http://berth/_ping")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if sid := r.Header.Get("X-Session"); sid != pids[0] {
		t.Errorf("berthd session %s, want its own (pid %s)", sid, pids[0])
	}

	log, err := os.ReadFile(filepath.Join(dir, "data", "berthd.log"))
	if err != nil || !strings.Contains(string(log), "fake berthd starting") {
		t.Errorf("berthd.log: %q, %v", log, err)
	}

	// Once up, ensure only pings.
	if err := a.ensure(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(starts); len(strings.Fields(string(b))) != 1 {
		t.Errorf("a running daemon was started again: %s", b)
	}
}

func TestAutostartReportsLogTail(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envFakeSock, filepath.Join(dir, "berth.sock"))
	t.Setenv(envFakeFail, "1")
	a, api := testAutostart(t, dir)
	os.MkdirAll(a.dataRoot, 0o700)
	os.WriteFile(filepath.Join(a.dataRoot, "berthd.log"), []byte("old run: not to be quoted\n"), 0o600)
	err := a.ensure(context.Background(), api)
	if err == nil {
		t.Fatal("ensure succeeded with a daemon that exits")
	}
	msg := err.Error()
	for _, want := range []string{
		"Cannot connect to the Berth daemon at " + a.host + ". Is the berth daemon running?",
		"berthd exited",
		"boom: cannot open metadata.db",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "old run") {
		t.Errorf("error quotes log lines from before this start:\n%s", msg)
	}
}

func TestAutostartMissingBinary(t *testing.T) {
	dir := t.TempDir()
	a, api := testAutostart(t, dir)
	a.bin = ""
	t.Setenv("PATH", dir)
	err := a.ensure(context.Background(), api)
	if err == nil || !strings.Contains(err.Error(), "berthd could not be started") {
		t.Fatalf("err = %v", err)
	}
}

func TestAutostartPolicy(t *testing.T) {
	c := &CLI{}
	t.Setenv(envNoAutostart, "")
	t.Setenv(envDataRoot, "/srv/berth")
	if a := c.autostarter("unix:///tmp/other.sock"); a != nil {
		t.Error("autostart for a non-default host")
	}
	a := c.autostarter(DefaultHost)
	if os.Geteuid() != 0 {
		if a != nil {
			t.Error("autostart for a non-root user")
		}
		return
	}
	if a == nil || a.dataRoot != "/srv/berth" {
		t.Fatalf("autostart = %+v", a)
	}
	t.Setenv(envNoAutostart, "1")
	if c.autostarter(DefaultHost) != nil {
		t.Errorf("%s=1 must disable autostart", envNoAutostart)
	}
}
