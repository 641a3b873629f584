package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dockerPy is Debian's python3 with Debian's python3-docker (docker-py), which scripts/deps.sh
// installs; another python3 on the PATH may have another docker-py or none.
const dockerPy = "/usr/bin/python3"

// runDockerPy runs a docker-py script against d; the script gets the socket as argv[1]
// and extra arguments after it.
func runDockerPy(t *testing.T, d *Daemon, script string, args ...string) Result {
	t.Helper()
	if err := exec.Command(dockerPy, "-c", "import docker").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker-py missing (apt-get install python3-docker): %v", err)
		}
		t.Skipf("docker-py missing (apt-get install python3-docker): %v", err)
	}
	p := filepath.Join(t.TempDir(), "script.py")
	if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerPy, append([]string{p, "unix://" + d.Sock}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// docker-py's images.build drives POST /build (the legacy builder's stream, the image ID
// from its aux message) and reports a failing step as docker.errors.BuildError.
func TestDockerPyBuild(t *testing.T) {
	d := StartDaemon(t)
	good := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nARG WHO=nobody\nCOPY msg.txt /msg.txt\nRUN echo \"$WHO\" >> /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n",
		"msg.txt":    "hello from docker-py\n",
	})
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo failing && exit 4\n"})
	r := runDockerPy(t, d, `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="auto")
img, logs = c.images.build(path=sys.argv[2], tag="pybuild:1", buildargs={"WHO": "berth"}, rm=True)
out = "".join(l.get("stream", "") for l in logs)
assert "Step 4/5 : RUN" in out and "Successfully tagged pybuild:1" in out, out
print(img.id.startswith("sha256:"), img.tags)
print(c.containers.run("pybuild:1", remove=True).decode(), end="")
img2, logs = c.images.build(path=sys.argv[2], tag="pybuild:1", buildargs={"WHO": "berth"})
print("cached:", sum("Using cache" in l.get("stream", "") for l in logs), img2.id == img.id)
try:
    c.images.build(path=sys.argv[3], tag="pybad:1")
    print("no error")
except docker.errors.BuildError as e:
    print("BuildError:", e.msg)
`, good, bad)
	want := "True ['pybuild:1']\nhello from docker-py\nberth\ncached: 4 True\nBuildError: The command '/bin/sh -c echo failing && exit 4' returned a non-zero code: 4\n"
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("docker-py build: %s\nwant stdout %q", r, want)
	}
	if r := d.Berth("image", "inspect", "pybad:1"); r.Code == 0 {
		t.Error("the failed build was tagged")
	}
}

// docker-py's everyday calls against berthd: the course's container, image, network and
// volume operations as a Python program makes them.
func TestDockerPyBasics(t *testing.T) {
	d := StartDaemon(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	r := runDockerPy(t, d, `
import sys, docker, io, tarfile, time
c = docker.DockerClient(base_url=sys.argv[1], version="auto")
print("ping", c.ping(), c.version()["ApiVersion"])
img = c.images.pull("busybox", tag="latest")
print("pulled", "busybox:latest" in img.tags, c.images.get("busybox").id == img.id)
print("run", c.containers.run("busybox", "echo hi", remove=True))
ct = c.containers.run("busybox", "sh -c 'echo started; sleep 30'", detach=True, name="dpy1", labels={"a": "b"})
for _ in range(100):
    if ct.logs():
        break
    time.sleep(0.05)
ct.reload()
print("detached", ct.status, ct.name, ct.labels, ct.logs())
print("exec", ct.exec_run("echo in-exec"))
buf = io.BytesIO()
tf = tarfile.open(fileobj=buf, mode="w")
ti = tarfile.TarInfo("f.txt"); ti.size = 4
tf.addfile(ti, io.BytesIO(b"data")); tf.close()
print("put", ct.put_archive("/tmp", buf.getvalue()))
bits, st = ct.get_archive("/tmp/f.txt")
print("get", st["name"], st["size"])
ct.stop(timeout=1)
print("wait", ct.wait()["StatusCode"])
print("commit", ct.commit(repository="dpy-commit", tag="1").tags)
ct.remove()
n = c.networks.create("dpy-net", driver="bridge")
ct2 = c.containers.run("busybox", "sleep 30", detach=True, name="dpy2", network="dpy-net")
ct2.reload()
print("network", n.name, list(ct2.attrs["NetworkSettings"]["Networks"]))
print("by name", c.containers.run("busybox", "ping -c1 -W2 dpy2", network="dpy-net", remove=True).count(b"1 packets received"))
ct2.remove(force=True); n.remove()
vol = c.volumes.create("dpy-vol", labels={"k": "v"})
print("volume", vol.name, c.containers.run("busybox", "sh -c 'echo x > /v/f; cat /v/f'", volumes={"dpy-vol": {"bind": "/v", "mode": "rw"}}, remove=True))
vol.remove()
ct3 = c.containers.run("busybox", "sleep 30", detach=True, ports={"80/tcp": ("127.0.0.1", int(sys.argv[2]))})
ct3.reload()
print("ports", ct3.ports["80/tcp"][0]["HostPort"] == sys.argv[2])
ct3.remove(force=True)
print("opts", c.containers.run("busybox", "sh -c 'echo $X; pwd; id -u'", environment={"X": "y"}, working_dir="/tmp", user="65534", remove=True))
try:
    c.containers.run("busybox", "sh -c 'exit 3'", remove=True)
except docker.errors.ContainerError as e:
    print("exit", e.exit_status)
try:
    c.containers.get("nope")
except docker.errors.NotFound:
    print("notfound")
img.tag("dpy-tag", "v1")
print("tag", "dpy-tag:v1" in c.images.get("dpy-tag:v1").tags)
c.images.remove("dpy-tag:v1"); c.images.remove("dpy-commit:1")
print("save", len(b"".join(c.images.get("busybox").save())) > 1000)
print("left", c.containers.list(all=True))
`, port)
	want := `ping True 1.47
pulled True True
run b'hi\n'
detached running dpy1 {'a': 'b'} b'started\n'
exec ExecResult(exit_code=0, output=b'in-exec\n')
put True
get f.txt 4
wait 137
commit ['dpy-commit:1']
network dpy-net ['dpy-net']
by name 1
volume dpy-vol b'x\n'
ports True
opts b'y\n/tmp\n65534\n'
exit 3
notfound
tag True
save True
left []
`
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("docker-py: %s\nwant stdout:\n%s", r, want)
	}
}
