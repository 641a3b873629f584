#!/usr/bin/env bash
# The README's demo: Berth runs the course's first commands against the local
# registry mirror that test/fixtures serves (there is no Docker Hub here).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (berthd needs it)"; exit 1; }
cd "$(dirname "$0")/.."
eval "$(./test/fixtures/fixtures.sh env)"
reg=${BERTH_TEST_REGISTRY:-127.0.0.1:5000}
if [ ! -f /etc/berth/daemon.json ]; then
  mkdir -p /etc/berth
  printf '{\n  "registry-mirrors": ["http://%s"],\n  "insecure-registries": ["%s"]\n}\n' "$reg" "$reg" > /etc/berth/daemon.json
  echo "wrote /etc/berth/daemon.json (docker.io mirror: http://$reg)"
fi
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step berth run busybox echo hello world
berth rm -f clock >/dev/null 2>&1 || true
step berth run -d --name clock busybox sh -c 'while true; do date; sleep 1; done'
step berth ps
sleep 2
step berth logs --tail 2 clock
step berth stop -t 1 clock
step berth ps -a
step berth rm clock
step berth pull debian:bookworm
step berth images
step berth network create demo-net
berth rm -f demo-web >/dev/null 2>&1 || true
step berth run -d --name demo-web --network demo-net -p 8080:80 busybox sh -c 'echo "hello from demo-web" > /tmp/index.html && httpd -f -p 80 -h /tmp'
sleep 0.5
step curl -s http://127.0.0.1:8080/index.html
step berth run --rm --network demo-net busybox wget -qO- http://demo-web/index.html
step berth rm -f demo-web
step berth network rm demo-net
# The course's first application (examples/myapp), built with the layer cache and run.
berth rm -f myapp >/dev/null 2>&1 || true
step berth build -t myapp:0.1 examples/myapp
step berth run --name=myapp -p 7070:7070 --restart always -d myapp:0.1
for _ in $(seq 50); do curl -sf http://127.0.0.1:7070/api/iot/test >/dev/null && break; sleep 0.1; done
step curl -s http://127.0.0.1:7070/api/iot/test
step berth logs --tail 100 myapp
step berth history myapp:0.1
step berth stop myapp
step berth rm myapp
step berth version
DOCKER_HOST=unix:///run/berth/berth.sock step docker run --rm busybox echo hello from the docker CLI
