#!/usr/bin/env bash
# Benchmarks a Dockerfile build of a 2,000-file context (20 directories × 100 files of
# 1–4 KB, fixed content) with
#
#     FROM busybox / WORKDIR /app / COPY . /app / RUN find /app -type f | wc -l > /count
#     ENV MODE=bench / CMD ["cat", "/count"]
#
# in four cases: cold (--no-cache), fully cached (same context again), after `touch` of one
# file (mtime only: the cache must hold) and after editing one file's content (rebuilds
# from COPY on). Engines, in the same run, each on its own private state (busybox from
# the fixtures registry, pulled and tagged beforehand so no pull is timed):
#   berth-docker   the docker CLI 28 with DOCKER_BUILDKIT=0 → berthd (POST /build)
#   berth          `berth build`, when this berth has it
#   docker-classic the docker CLI 28 with DOCKER_BUILDKIT=0 → a private dockerd 20.10
#   docker-bk      Debian's /usr/bin/docker 20.10 with DOCKER_BUILDKIT=1 → the same dockerd
#   podman         podman build on a private store
# Each engine builds its own copy of the context; the edit appends a line naming the engine
# and round, so no engine ever meets another's cache. ROUNDS rounds (plus one warm-up)
# go round-robin over the engines, the order rotating; each round runs the four cases in
# order, timing the wall time of the CLI command; medians. The build output of every
# build is checked for cache hits on every step (none when cold, all when cached or
# touched). Then one more round of Berth with the client's output lines time-stamped,
# beside berthd's debug log, shows where Berth's time goes.
#
#   bench/build.sh        ROUNDS=7 ENGINES="berth-docker berth docker-classic docker-bk podman"
#                         BIN=bin (berthd, berth-shim, berth) BERTHD_ARGS=-D
#                         IDLE=90 (wait for an idle machine, see below)
#                         KEEP_OUT=DIR keeps every build's output
#
# Writes bench/results/build-<date>.txt (table, cache checks, raw numbers, profile).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-7}
ENGINES=${ENGINES:-berth-docker berth docker-classic docker-bk podman}
BIN=${BIN:-$BENCH_REPO/bin}
BERTHD=${BERTHD:-$BIN/berthd}
read -r -a BERTHD_ARGS <<<"${BERTHD_ARGS:--D}"
berth() { "$BIN/berth" "$@"; }
DOCKER28=/usr/local/bin/docker
DOCKER20=/usr/bin/docker
# Keep the CLIs away from ~/.docker (Podman reads DOCKER_CONFIG too: it must hold a file).
export DOCKER_CONFIG=$BENCH_WORK/docker-config
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"
CASES=(cold cached touch edit)
TOUCHED=d07/f042.txt
EDITED=d11/f013.txt

# ---- the context ------------------------------------------------------------------------

# make_context DIR writes the 2,000 files and the Dockerfile: file n (0…1999) holds
# 1024 + (n × 1543 mod 3073) bytes of numbered lines, the same on every machine.
make_context() {
  mkdir -p "$1"
  awk -v dir="$1" 'BEGIN {
    for (d = 0; d < 20; d++) {
      system(sprintf("mkdir -p %s/d%02d", dir, d))
      for (f = 0; f < 100; f++) {
        n = d * 100 + f; size = 1024 + (n * 1543) % 3073
        file = sprintf("%s/d%02d/f%03d.txt", dir, d, f); s = ""; k = 0
        while (length(s) < size) s = s sprintf("file %04d line %04d: the quick brown fox jumps\n", n, k++)
        printf "%s", substr(s, 1, size) > file; close(file)
      }
    }
  }'
  cat >"$1/Dockerfile" <<'EOF'
FROM busybox
WORKDIR /app
COPY . /app
RUN find /app -type f | wc -l > /count
ENV MODE=bench
CMD ["cat", "/count"]
EOF
}

# ---- engines: build command, output parsing, result check -----------------------------

# build_cmd ENGINE [--no-cache] runs ENGINE's build of its context, tagged bench-build.
build_cmd() {
  local e=$1 ctx=$BENCH_WORK/ctx-$1
  shift
  case $e in
  berth-docker) DOCKER_BUILDKIT=0 "$DOCKER28" -H "$BERTH_HOST" build -t bench-build "$@" "$ctx" ;;
  berth) berth build --progress=plain -t bench-build "$@" "$ctx" ;;
  docker-classic) DOCKER_BUILDKIT=0 "$DOCKER28" -H "unix://$DOCKER_SOCK" build -t bench-classic "$@" "$ctx" ;;
  docker-bk) DOCKER_BUILDKIT=1 "$DOCKER20" -H "unix://$DOCKER_SOCK" build --progress=plain -t bench-bk "$@" "$ctx" ;;
  podman) pm build -t bench-build "$@" "$ctx" ;;
  esac
}

# run_image ENGINE runs the image ENGINE built last (prints the file count).
run_image() {
  case $1 in
  berth-docker | berth) berth run --rm --network none bench-build ;;
  docker-classic) dk run --rm --network none bench-classic ;;
  docker-bk) dk run --rm --network none bench-bk ;;
  podman) pm run --rm --network none localhost/bench-build ;;
  esac
}

# cache_hits FILE prints "HITS STEPS": the steps after FROM in build output FILE and how
# many of them reported a cache hit, for the legacy builder's stream (Step n/N, " --->
# Using cache"), BuildKit's plain progress (#id [k/N] … / #id CACHED) and Podman/Buildah
# (STEP n/N: / --> Using cache).
cache_hits() {
  awk '
    /^Step [0-9]+\/[0-9]+ :/ || /^STEP [0-9]+\/[0-9]+: / { steps++; if ($0 ~ /FROM/) steps--; next }
    /^ ---> Using cache/ || /^--> Using cache/ { hits++; next }
    /^#[0-9]+ \[[0-9]+\/[0-9]+\] / { split($2, a, "/"); if (a[1] != "[1") { bk[$1] = 1; steps++ } next }
    /^#[0-9]+ CACHED/ { if ($1 in bk) hits++; next }
    END { print hits + 0, steps + 0 }' "$1"
}

# ---- set-up -----------------------------------------------------------------------------

make_context "$BENCH_WORK/ctx"
note "context: $(find "$BENCH_WORK/ctx" -type f | wc -l) files, $(du -sb "$BENCH_WORK/ctx" | cut -f1) bytes"

versions="Berth $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' ':!docs' 2>/dev/null || echo '+work in progress')"
UP=()
for e in $ENGINES; do
  case $e in
  berth-docker | berth)
    if [ -z "${BERTHD_PID:-}" ]; then
      berthd_start "${BERTHD_ARGS[@]}"
      berth pull -q busybox >/dev/null
    fi
    if [ "$e" = berth ] && ! berth build --help 2>/dev/null | grep -q 'berth build'; then
      note "berth: no build command in this berth; only the docker CLI drives berthd"
      continue
    fi
    ;;
  docker-classic | docker-bk)
    if [ -z "${DOCKERD_PID:-}" ]; then
      docker_up || continue
      dk tag "$IMAGE" busybox:latest
      versions+=", Docker $(dk version --format '{{.Server.Version}}') (classic: client $("$DOCKER28" --version | awk '{ sub(/,/, "", $3); print $3 }'), BuildKit: client $("$DOCKER20" --version | awk '{ sub(/,/, "", $3); print $3 }'))"
    fi
    [ "$e" = docker-bk ] && [ ! -x "$DOCKER20" ] && { note "docker-bk: skipped ($DOCKER20 missing)"; continue; }
    ;;
  podman)
    podman_up || continue
    pm tag "$IMAGE" docker.io/library/busybox:latest
    versions+=", Podman $(pm version --format '{{.Client.Version}}')"
    ;;
  *) note "unknown engine $e"; continue ;;
  esac
  cp -a "$BENCH_WORK/ctx" "$BENCH_WORK/ctx-$e"
  UP+=("$e")
done
versions+=", runc $(runc --version | awk 'NR == 1 { print $3 }')"

# psi prints the machine's CPU and I/O pressure (PSI "some", % over the last 5 minutes).
psi() {
  local r
  for r in cpu io; do
    printf '%s %s%% ' "$r" "$(awk -F'avg300=' '/^some/ { split($2, a, " "); print a[1] }' "/proc/pressure/$r" 2>/dev/null)"
  done
}
PSI_BEFORE=$(psi)

# ---- rounds -----------------------------------------------------------------------------

declare -A T HITS
OUTS=$BENCH_WORK/out
mkdir -p "$OUTS"
# KEEP_OUT=DIR keeps every build's output.
[ -n "${KEEP_OUT:-}" ] && BENCH_DOWN+=(keep_out)
keep_out() { mkdir -p "$KEEP_OUT" && cp "$OUTS"/* "$KEEP_OUT/"; }

# one ENGINE ROUND CASE prepares CASE, times the build (prints ns), keeps its output.
one() {
  local e=$1 r=$2 c=$3 out=$OUTS/$1-$2-$3.txt t0 t1 args=()
  case $c in
  cold) args=(--no-cache) ;;
  touch) touch "$BENCH_WORK/ctx-$e/$TOUCHED" ;;
  edit) echo "edited by $e in round $r" >>"$BENCH_WORK/ctx-$e/$EDITED" ;;
  esac
  t0=$(now_ns)
  build_cmd "$e" "${args[@]}" >"$out" 2>&1 || { note "$e $c build failed:"; tail -20 "$out" >&2; exit 1; }
  t1=$(now_ns)
  echo "$((t1 - t0))"
}

# IDLE=PCT: before each engine's four builds, wait up to 60 s for a second in which the
# machine was at least PCT % idle (0: do not wait). The idle share seen is recorded.
IDLE=${IDLE:-90}
declare -A IDLES
for r in $(seq 0 "$ROUNDS"); do
  # The order rotates from round to round, and each engine starts after a sync, so that
  # no engine always pays for the write-back of the one before it.
  for i in "${!UP[@]}"; do
    e=${UP[$(((i + r) % ${#UP[@]}))]}
    sync
    idle=-
    if [ "$IDLE" -gt 0 ]; then idle=$(wait_idle "$IDLE" 60) || note "machine still busy (${idle}% idle): measuring anyway"; fi
    [ "$r" = 0 ] || IDLES[$e]+="$idle "
    line="round $r $e (${idle}% idle before):"
    for c in "${CASES[@]}"; do
      t=$(one "$e" "$r" "$c")
      [ "$r" = 0 ] || { T[$e,$c]+="$t "; HITS[$e,$c]+="$(cache_hits "$OUTS/$e-$r-$c.txt" | tr ' ' /) "; }
      line+=" $c $(secs "$t")"
    done
    [ "$r" = 0 ] && line+=" (warm-up)"
    note "$line"
  done
done

# Each engine's image runs and counts the files it copied (2,000 + the Dockerfile).
for e in "${UP[@]}"; do
  n=$(run_image "$e" 2>&1 | tr -d '\r\n ')
  [ "$n" = 2001 ] || { note "$e: the built image counted '$n' files, not 2001"; exit 1; }
done

# ---- profile: Berth's time, step by step ------------------------------------------------

# stamp T0 prints each input line after the seconds since T0 ($EPOCHREALTIME) it arrived.
stamp() {
  local l d t0=${1/./}
  while IFS= read -r l; do
    d=$((${EPOCHREALTIME/./} - t0))
    printf '%3d.%03d  %s\n' $((d / 1000000)) $((d / 1000 % 1000)) "$l"
  done
}

PROFILE=$BENCH_WORK/profile.txt
: >"$PROFILE"
if [[ " ${UP[*]} " == *" berth-docker "* ]]; then
  for c in "${CASES[@]}"; do
    log_from=$(wc -l <"$BENCH_WORK/berthd.log")
    args=()
    case $c in
    cold) args=(--no-cache) ;;
    touch) touch "$BENCH_WORK/ctx-berth-docker/$TOUCHED" ;;
    edit) echo "edited for the profile" >>"$BENCH_WORK/ctx-berth-docker/$EDITED" ;;
    esac
    t0=$EPOCHREALTIME
    {
      echo "--- berth-docker $c, started $(date -u -d "@$t0" +%H:%M:%S.%3N): client output (s since the start)"
      build_cmd berth-docker "${args[@]}" 2>&1 | stamp "$t0"
      echo "--- berthd's log meanwhile (time-stamped by berthd)"
      tail -n +"$((log_from + 1))" "$BENCH_WORK/berthd.log"
    } >>"$PROFILE"
  done
fi

# Floors for the legacy API's context handling: the context as a tar through a pipe into
# `tar -x` on berthd's file system (what POST /build does before its first step), and
# into sha256sum (read once, no file written).
floor() {
  local t0 v=() dst
  for _ in 1 2 3 4 5; do
    dst=$(mktemp -d "$BERTH_DATA/floor.XXXX")
    sync
    t0=$(now_ns)
    case $1 in
    untar) tar -C "$BENCH_WORK/ctx" -cf - . | tar -C "$dst" -xf - ;;
    sum) tar -C "$BENCH_WORK/ctx" -cf - . | sha256sum >/dev/null ;;
    esac
    v+=($(($(now_ns) - t0)))
    rm -rf "$dst"
  done
  median "${v[@]}"
}
if [ -n "${BERTH_DATA:-}" ]; then
  {
    echo "--- floors (median of 5): tar -c CTX | tar -x (on berthd's data root) $(secs "$(floor untar)") s; tar -c CTX | sha256sum $(secs "$(floor sum)") s"
  } >>"$PROFILE"
fi

# ---- results ----------------------------------------------------------------------------

label() {
  case $1 in
  berth-docker) echo '**Berth** (`docker build`, CLI 28, DOCKER_BUILDKIT=0 → berthd)' ;;
  berth) echo '**Berth** (`berth build`)' ;;
  docker-classic) echo 'Docker classic builder (CLI 28, DOCKER_BUILDKIT=0)' ;;
  docker-bk) echo 'Docker BuildKit (CLI 20.10, DOCKER_BUILDKIT=1)' ;;
  podman) echo 'Podman (`podman build`)' ;;
  esac
}
med() { local -a v; read -r -a v <<<"${T[$1,$2]}"; median "${v[@]}"; }
# hits ENGINE CASE: "all" when every round hit the cache on every step, else the per-round hits/steps.
hits() {
  local h all=1
  for h in ${HITS[$1,$2]}; do [ "${h%/*}" = "${h#*/}" ] && [ "${h#*/}" != 0 ] || all=0; done
  if [ "$all" = 1 ]; then echo "all (${HITS[$1,$2]%% *} every round)"; else echo "${HITS[$1,$2]% }"; fi
}

REF=berth-docker
[[ " ${UP[*]} " == *" berth-docker "* ]] || REF=${UP[0]}
mkdir -p bench/results
OUT=bench/results/build-$(date -u +%Y%m%d-%H%M).txt
{
  echo "### Dockerfile build of a 2,000-file context (20 dirs × 100 files, 1–4 KB), $(host_facts), $ROUNDS rounds (medians)"
  echo
  echo "$versions. Machine pressure (PSI some, avg300): before $PSI_BEFORE, after $(psi)(other people's tests share the machine)."
  echo
  echo "| engine | cold (\`--no-cache\`) | fully cached | after \`touch\` of one file | one file edited |"
  echo "|---|---|---|---|---|"
  for e in "${UP[@]}"; do
    row="| $(label "$e") |"
    for c in "${CASES[@]}"; do row+=" $(secs "$(med "$e" "$c")") s |"; done
    echo "$row"
  done
  echo "| target (issue 7) | ≤ 0.80 s | ≤ 0.15 s | (as cached) | ≤ 0.50 s |"
  echo
  echo "| $REF ÷ engine | cold | cached | touch | edit |"
  echo "|---|---|---|---|---|"
  for e in "${UP[@]}"; do
    [ "$e" = "$REF" ] && continue
    row="| $e |"
    for c in "${CASES[@]}"; do row+=" $(awk -v a="$(med "$REF" "$c")" -v b="$(med "$e" "$c")" 'BEGIN { printf "%.2f×", a / b }') |"; done
    echo "$row"
  done
  echo
  echo "Cache hits in the build output (steps after FROM that said Using cache / CACHED, per round; BuildKit shows only WORKDIR, COPY and RUN as steps):"
  echo
  echo "| engine | cold (none expected) | cached | touch | edit |"
  echo "|---|---|---|---|---|"
  for e in "${UP[@]}"; do echo "| $e | ${HITS[$e,cold]% } | $(hits "$e" cached) | $(hits "$e" touch) | ${HITS[$e,edit]% } |"; done
  echo
  echo "Raw wall times (s), rounds 1…$ROUNDS:"
  for e in "${UP[@]}"; do
    printf '%-15s %-7s %s\n' "$e" "idle%" "${IDLES[$e]% }"
    for c in "${CASES[@]}"; do
      printf '%-15s %-7s' "$e" "$c"
      for t in ${T[$e,$c]}; do printf ' %s' "$(awk -v n="$t" 'BEGIN { printf "%.3f", n / 1e9 }')"; done
      echo
    done
  done
  echo
  echo "Commands (CTX = the engine's own copy of the context):"
  for e in "${UP[@]}"; do
    case $e in
    berth-docker) echo "  DOCKER_BUILDKIT=0 $DOCKER28 -H unix://<berthd>.sock build [--no-cache] -t bench-build CTX" ;;
    berth) echo "  berth build --progress=plain [--no-cache] -t bench-build CTX" ;;
    docker-classic) echo "  DOCKER_BUILDKIT=0 $DOCKER28 -H unix://$DOCKER_SOCK build [--no-cache] -t bench-classic CTX" ;;
    docker-bk) echo "  DOCKER_BUILDKIT=1 $DOCKER20 -H unix://$DOCKER_SOCK build --progress=plain [--no-cache] -t bench-bk CTX" ;;
    podman) echo "  $PODMAN_CLI build [--no-cache] -t bench-build CTX" ;;
    esac
  done
  echo "  touch: touch CTX/$TOUCHED; edit: echo 'edited by ENGINE in round R' >> CTX/$EDITED"
  if [ -s "$PROFILE" ]; then
    echo
    echo "Profile: one more round of berth-docker, client output lines time-stamped, and berthd's log (${BERTHD_ARGS[*]:-no debug}):"
    cat "$PROFILE"
  fi
} >"$OUT"
sed '/^Raw wall times/,$d' "$OUT"
echo "wrote $OUT"
