#!/usr/bin/env bash
# A container writing ~200 MB to stdout (busybox `head -c 150m /dev/urandom | base64`:
# 2.8 million 76-character lines), with Berth, Docker and Podman in the same run, beside
# the same command under plain runc writing straight to a file. Per engine:
#   - time to exit: `run -d` then `wait` (the engine logs everything; median of ROUNDS);
#   - attached: `run --rm … | wc -c` (the client receives the stream; median of ROUNDS);
#   - `logs <c> | wc -c` (hyperfine, READS runs) and `logs --tail 10 <c>` (hyperfine -N).
#
#   bench/logs.sh        ROUNDS=3 READS=3 ENGINES="berth docker podman"
#
# Writes bench/results/logs-<date>.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
READS=${READS:-3}
ENGINES=${ENGINES:-berth docker podman}
GEN='head -c 150m /dev/urandom | base64'
ROWS=()

# hf_median prints the median, in seconds, of hyperfine's single result in JSON file $1.
hf_median() { jq -r '.results[0].median' "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
fmt_s() { awk -v s="$1" 'BEGIN { printf "%.2f", s }'; }

# measure LABEL CLI LOGFILE_FN: the four figures for one engine. CLI is the engine's
# command line (a string); LOGFILE_FN prints a container's log file path.
measure() {
  local label=$1 cli=$2 logfile=$3 r t0 cid bytes size
  local -a exit attached ids
  for r in $(seq "$ROUNDS"); do
    t0=$(now_ns)
    cid=$($cli run -d "$IMAGE" sh -c "$GEN")
    $cli wait "$cid" >/dev/null
    exit+=($(($(now_ns) - t0)))
    ids+=("$cid")
    [ "$r" -lt "$ROUNDS" ] && $cli rm -f "$cid" >/dev/null
    note "$label round $r: run -d … wait $(secs "${exit[-1]}") s"
  done
  for r in $(seq "$ROUNDS"); do
    t0=$(now_ns)
    bytes=$($cli run --rm "$IMAGE" sh -c "$GEN" | wc -c)
    attached+=($(($(now_ns) - t0)))
    note "$label round $r: attached run $(secs "${attached[-1]}") s, $bytes bytes"
  done
  size=$(stat -c %s "$($logfile "$cid")")
  bytes=$($cli logs "$cid" | wc -c)
  hyperfine --runs "$READS" --export-json "$BENCH_WORK/read.json" -n "$label logs | wc -c" "$cli logs $cid | wc -c" >&2
  hyperfine -N --warmup 3 --runs 20 --export-json "$BENCH_WORK/tail.json" -n "$label logs --tail 10" "$cli logs --tail 10 $cid" >&2
  $cli rm -f "$cid" >/dev/null
  ROWS+=("| $label | **$(secs "$(median "${exit[@]}")") s** | $(secs "$(median "${attached[@]}")") s | **$(fmt_s "$(hf_median "$BENCH_WORK/read.json")") s** | **$(ms "$(hf_median "$BENCH_WORK/tail.json")") ms** | $((size / 1048576)) MiB | $bytes |")
}

berth_logfile() { echo "$BERTH_DATA/containers/$1/$1-json.log"; }
docker_logfile() { dk inspect -f '{{.LogPath}}' "$1"; }
podman_logfile() { pm inspect -f '{{.HostConfig.LogConfig.Path}}' "$1"; }

berth_up
floor_bundle "$BENCH_WORK/bundle"
versions="runc $(runc --version | awk 'NR == 1 { print $3 }'), Berth $(git describe --tags --always --dirty 2>/dev/null)"

# The floor: the same command under runc run, its stdout a file on the host.
floor_variant "$BENCH_WORK/bundle" "$BENCH_WORK/gen" /berth-bench/gen sh -c "$GEN"
RUNC_ROOT=/run/berth-bench-runc
floor=()
for r in $(seq "$ROUNDS"); do
  t0=$(now_ns)
  runc --root "$RUNC_ROOT" run --bundle "$BENCH_WORK/gen" bench-gen >"$BENCH_WORK/out" </dev/null
  floor+=($(($(now_ns) - t0)))
  note "runc to a file round $r: $(secs "${floor[-1]}") s"
done
rmdir /sys/fs/cgroup/*/berth-bench 2>/dev/null || true
rm -rf "$RUNC_ROOT"
raw=$(stat -c %s "$BENCH_WORK/out")
hyperfine --runs "$READS" --export-json "$BENCH_WORK/read.json" -n "cat | wc -c" "cat $BENCH_WORK/out | wc -c" >&2
hyperfine -N --warmup 3 --runs 20 --export-json "$BENCH_WORK/tail.json" -n "tail -n 10" "tail -n 10 $BENCH_WORK/out" >&2
ROWS+=("| runc run, stdout to a file; \`cat\`, \`tail -n 10\` of it | $(secs "$(median "${floor[@]}")") s | — | $(fmt_s "$(hf_median "$BENCH_WORK/read.json")") s | $(ms "$(hf_median "$BENCH_WORK/tail.json")") ms | $((raw / 1048576)) MiB | $raw |")
rm -f "$BENCH_WORK/out"

for e in $ENGINES; do
  case $e in
  berth) measure berth "$BERTH_CLI" berth_logfile ;;
  docker)
    if docker_up; then
      versions+=", Docker $(dk version --format '{{.Server.Version}}') (client $(dk version --format '{{.Client.Version}}'), json-file)"
      measure docker "$DOCKER_CLI" docker_logfile
      docker_down
    else ROWS+=("| docker | not installed | | | | | |"); fi
    ;;
  podman)
    if podman_up; then
      versions+=", Podman $(pm version --format '{{.Client.Version}}') (conmon $(conmon --version | awk 'NR == 1 { print $3 }'), k8s-file)"
      measure podman "$PODMAN_CLI" podman_logfile
      podman_down
    else ROWS+=("| podman | not installed | | | | | |"); fi
    ;;
  *) note "unknown engine $e" ;;
  esac
done

mkdir -p bench/results
out=bench/results/logs-$(date -u +%Y%m%d-%H%M).md
{
  echo "### ~200 MB of container stdout (\`$GEN\`), $(host_facts)"
  echo
  echo "$versions. Medians: $ROUNDS runs for the writes, $READS for \`logs | wc -c\`, 20 for \`--tail 10\`."
  echo
  echo "| engine | time to exit (\`run -d\` … \`wait\`) | attached \`run --rm\` | \`logs\` \\| \`wc -c\` | \`logs --tail 10\` | log file | bytes from \`logs\` |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$out"
echo "wrote $out"
