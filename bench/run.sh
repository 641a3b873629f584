#!/usr/bin/env bash
# Benchmarks `berth run --rm busybox true` beside `runc run` of the same bundle (the
# floor) and, in the same run, `docker run --rm` (Debian's docker.io, a private dockerd)
# and `podman run --rm` (Debian's podman with runc) when they are installed.
# Prints medians and ratios; writes bench/results/run-<date>.md for docs/benchmarks.md.
#
#   bench/run.sh        RUNS=20 ENGINES="docker podman"
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-20}
ENGINES=${ENGINES:-docker podman}
command -v hyperfine >/dev/null || ./scripts/deps.sh

berth_up
# The floor: runc run of the same bundle Berth hands to runc (its config.json, with
# Docker's default mounts, capabilities and seccomp), on the same busybox rootfs.
floor_bundle "$BENCH_WORK/bundle"
RUNC_ROOT=/run/berth-bench-runc
runc_down() { rm -rf "$RUNC_ROOT"; rmdir /sys/fs/cgroup/*/berth-bench 2>/dev/null || true; }
BENCH_DOWN+=(runc_down)

cmds=(-n "runc run" "runc --root $RUNC_ROOT run --bundle $BENCH_WORK/bundle bench-floor"
  -n "berth run --rm" "$BERTH_CLI run --rm $IMAGE true")
for e in $ENGINES; do
  case $e in
  docker) docker_up && cmds+=(-n "docker run --rm" "$DOCKER_CLI run --rm $IMAGE true") ;;
  podman) podman_up && cmds+=(-n "podman run --rm" "$PODMAN_CLI run --rm $IMAGE true") ;;
  esac
done
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$BENCH_WORK/run.json" "${cmds[@]}"

mkdir -p bench/results
out=bench/results/run-$(date -u +%Y%m%d-%H%M).md
{
  echo "### \`run --rm busybox true\`, $(host_facts), $RUNS runs each"
  echo
  echo "| command | median | mean ± σ | min | ratio to runc |"
  echo "|---|---|---|---|---|"
  jq -r '(.results[0].median) as $floor | .results[] |
    "| \(.command) | \(.median*1000|floor) ms | \(.mean*1000|floor) ± \(.stddev*1000|floor) ms | \(.min*1000|floor) ms | \(.median/$floor*100|floor/100)× |"' "$BENCH_WORK/run.json"
} | tee "$out"
echo "wrote $out"
