package integration

import (
	"os"
	"os/exec"
	"path/filepath"
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
