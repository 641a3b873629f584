#!/usr/bin/env bash
# Starts N (20) detached idle containers, `run -d busybox sleep 300` one after the other,
# with raw runc, Berth, Docker and Podman in the same run, and measures the wall time of
# the N starts and the extra memory per idle container: RSS and PSS (smaps_rollup) summed
# over all of the engine's processes (daemons and per-container shims), after minus
# before, divided by N; and the per-container shim process itself. ROUNDS rounds per
# engine, medians reported; every container is removed after each round.
#
#   bench/containers.sh            N=20 ROUNDS=3 ENGINES="runc berth docker podman"
#
# Docker and Podman also run with --network none, which is what Berth's containers get
# today (their own network namespace with loopback only). Writes
# bench/results/containers-<date>.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
N=${N:-20}
ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-3} # seconds between the last start and the memory reading
ENGINES=${ENGINES:-runc berth docker podman}
ROWS=()

# measure LABEL START RMALL DAEMONS SHIMS SHIM: ROUNDS rounds of N × START (given the
# index); memory summed over the PIDs DAEMONS and SHIMS print, before and after; SHIMS
# are the per-container processes (named SHIM); RMALL after each round.
measure() {
  local label=$1 start=$2 rmall=$3 daemons=$4 shims=$5 shim=$6 r i p t0 t1 t2 n
  local -a tot rm drss dpss srss spss cnt b a m rss pss
  # Warm-up: one container, started and removed, so lazy set-up is not counted.
  $start 0 >/dev/null && $rmall
  for r in $(seq "$ROUNDS"); do
    read -r -a b < <(mem $($daemons) $($shims))
    t0=$(now_ns)
    for i in $(seq "$N"); do $start "$i" >/dev/null; done
    t1=$(now_ns)
    sleep "$SETTLE"
    read -r -a a < <(mem $($daemons) $($shims))
    drss+=($(((a[0] - b[0]) / N))) dpss+=($(((a[1] - b[1]) / N)))
    rss=() pss=() n=0
    for p in $($shims); do
      read -r -a m < <(mem "$p")
      rss+=("${m[0]}") pss+=("${m[1]}") n=$((n + 1))
    done
    [ "$n" -gt 0 ] && srss+=("$(median "${rss[@]}")") spss+=("$(median "${pss[@]}")")
    cnt+=("$n")
    t2=$(now_ns)
    $rmall
    tot+=($((t1 - t0))) rm+=($(($(now_ns) - t2)))
    note "$label round $r: $N starts $(secs "${tot[-1]}") s, removal $(secs "${rm[-1]}") s," \
      "extra RSS/PSS per container $(kb "${drss[-1]}") / $(kb "${dpss[-1]}") MB, $n × ${shim:-no shim}"
  done
  local per
  per=$(awk -v n="$(median "${tot[@]}")" -v c="$N" 'BEGIN { printf "%d", n / c / 1e6 }')
  if [ -n "$shim" ]; then
    p="$shim (×$(median "${cnt[@]}")) | $(kb "$(median "${srss[@]}")") / $(kb "$(median "${spss[@]}")") MB"
  else p="none | —"; fi
  ROWS+=("| $label | **$(secs "$(median "${tot[@]}")") s** | $per ms | $(secs "$(median "${rm[@]}")") s | **$(kb "$(median "${drss[@]}")")** / $(kb "$(median "${dpss[@]}")") MB | $p |")
}

kb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# runc: N bundles sharing one rootfs, each with its own cgroup.
RUNC_ROOT=/run/berth-bench-runc
runc_start() {
  runc --root "$RUNC_ROOT" run -d --bundle "$BENCH_WORK/c$1" "bench-c$1" </dev/null >/dev/null 2>&1
}
runc_rm_all() {
  local id
  for id in $(runc --root "$RUNC_ROOT" list -q); do runc --root "$RUNC_ROOT" delete -f "$id"; done
}
runc_down() {
  runc_rm_all 2>/dev/null
  rm -rf "$RUNC_ROOT"
  rmdir /sys/fs/cgroup/*/berth-bench 2>/dev/null || true
}
no_pids() { :; }


berth_start() { berth run -d "$IMAGE" sleep 300; }
docker_start() { dk run -d "$IMAGE" sleep 300; }
docker_start_nonet() { dk run -d --network none "$IMAGE" sleep 300; }
podman_start() { pm run -d "$IMAGE" sleep 300; }
podman_start_nonet() { pm run -d --network none "$IMAGE" sleep 300; }

berth_up
floor_bundle "$BENCH_WORK/bundle"
versions="runc $(runc --version | awk 'NR == 1 { print $3 }'), Berth $(git describe --tags --always --dirty 2>/dev/null)"
for e in $ENGINES; do
  case $e in
  runc)
    BENCH_DOWN+=(runc_down)
    for i in $(seq 0 "$N"); do
      floor_variant "$BENCH_WORK/bundle" "$BENCH_WORK/c$i" "/berth-bench/c$i" sleep 300
    done
    measure "runc run -d (Berth's bundle)" runc_start runc_rm_all no_pids no_pids ""
    ;;
  berth)
    measure "berth run -d" berth_start berth_rm_all berthd_pid berth_shims berth-shim
    ;;
  docker)
    if docker_up; then
      versions+=", Docker $(dk version --format '{{.Server.Version}}') (client $(dk version --format '{{.Client.Version}}'))"
      measure "docker run -d" docker_start docker_rm_all docker_daemons docker_shims containerd-shim-runc-v2
      measure "docker run -d --network none" docker_start_nonet docker_rm_all docker_daemons docker_shims containerd-shim-runc-v2
      docker_down
    else ROWS+=("| docker | not installed | | | | | |"); fi
    ;;
  podman)
    if podman_up; then
      versions+=", Podman $(pm version --format '{{.Client.Version}}') (conmon $(conmon --version | awk 'NR == 1 { print $3 }'))"
      measure "podman run -d" podman_start podman_rm_all no_pids podman_shims conmon
      measure "podman run -d --network none" podman_start_nonet podman_rm_all no_pids podman_shims conmon
      podman_down
    else ROWS+=("| podman | not installed | | | | | |"); fi
    ;;
  *) note "unknown engine $e" ;;
  esac
done

mkdir -p bench/results
out=bench/results/containers-$(date -u +%Y%m%d-%H%M).md
{
  echo "### $N × \`run -d busybox sleep 300\`, $(host_facts), median of $ROUNDS rounds"
  echo
  echo "$versions."
  echo
  echo "| engine | $N starts | per start | removal of $N | extra RSS / PSS per container (all engine processes) | per-container process | its RSS / PSS |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$out"
echo "wrote $out"
