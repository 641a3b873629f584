#!/usr/bin/env bash
# Benchmarks `berth run --rm busybox true` beside `runc run` of the same busybox rootfs
# (the floor) and, when Debian's docker.io is installed, `docker run --rm busybox true`.
# Prints medians and ratios; writes bench/results/run-<date>.md for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
command -v hyperfine >/dev/null || ./scripts/deps.sh
eval "$(./test/fixtures/fixtures.sh env)"
work=$(mktemp -d /tmp/berth-bench.XXXX)
exec_root=/run/bb-$$
cleanup() {
  [ -n "${bpid:-}" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work" "$exec_root"
}
trap cleanup EXIT

# Berth: a private daemon on its own socket, with the fixtures registry as mirror.
echo "{\"registry-mirrors\": [\"http://$BERTH_TEST_REGISTRY\"]}" > "$work/daemon.json"
./bin/berthd --data-root "$work/data" --exec-root "$exec_root" --config-file "$work/daemon.json" --no-docker-hub >"$work/berthd.log" 2>&1 &
bpid=$!
export BERTH_HOST=unix://$exec_root/berth.sock BERTH_NO_AUTOSTART=1
for _ in $(seq 200); do ./bin/berth version >/dev/null 2>&1 && break; sleep 0.05; done
./bin/berth pull -q busybox >/dev/null

# The floor: runc run of the same bundle Berth hands to runc (its config.json, with
# Docker's default mounts, capabilities and seccomp), on the same busybox rootfs.
mkdir -p "$work/bundle/rootfs"
oci=$BERTH_TEST_BUSYBOX_OCI
idx=$(jq -r '.manifests[0].digest' "$oci/index.json" | cut -d: -f2)
man=$(jq -r '.manifests[] | select(.platform.architecture=="amd64") | .digest' "$oci/blobs/sha256/$idx" | cut -d: -f2)
layer=$(jq -r '.layers[0].digest' "$oci/blobs/sha256/$man" | cut -d: -f2)
tar -xzf "$oci/blobs/sha256/$layer" -C "$work/bundle/rootfs"
cid=$(./bin/berth run -d busybox sleep 60)
cdir=$work/data/containers/$cid
cp "$cdir/hostname" "$cdir/hosts" "$cdir/resolv.conf" "$work/bundle/"
jq --arg b "$work/bundle" --arg c "$cdir" '.root.path = ($b + "/rootfs") | .process.args = ["true"] |
  .linux.cgroupsPath = "/berth-bench/floor" | .mounts |= map(if (.source|startswith($c)) then .source = ($b + (.source|ltrimstr($c))) else . end)' \
  "$cdir/config.json" > "$work/bundle/config.json"
./bin/berth rm -f "$cid" >/dev/null

cmds=(-n "runc run" "runc run --bundle $work/bundle bench-floor"
      -n "berth run --rm" "./bin/berth run --rm busybox true")
if command -v dockerd >/dev/null && docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
  docker -H unix:///var/run/docker.sock pull -q "$BERTH_TEST_BUSYBOX_IMAGE" >/dev/null
  cmds+=(-n "docker run --rm" "docker -H unix:///var/run/docker.sock run --rm $BERTH_TEST_BUSYBOX_IMAGE true")
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}"

mkdir -p bench/results
out=bench/results/run-$(date -u +%Y%m%d-%H%M).md
{
  echo "### \`run --rm busybox true\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r), $RUNS runs each"
  echo
  echo "| command | median | mean ± σ | min | ratio to runc |"
  echo "|---|---|---|---|---|"
  jq -r '(.results[0].median) as $floor | .results[] |
    "| \(.command) | \(.median*1000|floor) ms | \(.mean*1000|floor) ± \(.stddev*1000|floor) ms | \(.min*1000|floor) ms | \(.median/$floor*100|floor/100)× |"' "$work/run.json"
} | tee "$out"
echo "wrote $out"
