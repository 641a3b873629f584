# shellcheck shell=bash
# Shared set-up for the benchmarks, sourced by bench/*.sh: a private berthd, a private
# dockerd with its own containerd, Podman on a private store, the runc floor bundle, and
# helpers for timing and memory. Every engine lives in its own state directories and is
# torn down (containers, daemons, state, bridges, iptables changes) by bench_cleanup,
# which runs at exit (also on SIGINT and SIGTERM). The peers are optional: *_up returns
# non-zero with a note on stderr when an engine is not installed.
#
# Docker's dockerd runs with --iptables=false and a private --bip so that it never turns
# the host's FORWARD policy to DROP under other people's tests (without published ports it
# adds no per-container iptables rules anyway, so its timings are those of a stock daemon).

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BENCH_REPO=$PWD
# shellcheck disable=SC1090
eval "$("$BENCH_REPO/test/fixtures/fixtures.sh" env)"
IMAGE=$BERTH_TEST_BUSYBOX_IMAGE # 127.0.0.1:5000/library/busybox:latest for every engine

BENCH_WORK=$(mktemp -d /tmp/berth-bench.XXXX)
BENCH_DOWN=() # teardown functions, run last-in first-out
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

note() { printf '%s\n' "$*" >&2; }

# now_ns prints a monotonic-enough wall clock in nanoseconds.
now_ns() { date +%s%N; }

# secs NS prints NS nanoseconds as seconds with two decimals.
secs() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1e9 }'; }

# median prints the median of its numeric arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# mem PID... prints "RSS PSS" in kB summed over the live processes among PIDs
# (from /proc/PID/smaps_rollup; zombies and vanished PIDs count 0).
mem() {
  local p rss=0 pss=0 r s
  for p in "$@"; do
    read -r r s < <(awk '/^Rss:/ { r = $2 } /^Pss:/ { s = $2 } END { print r + 0, s + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    rss=$((rss + r)) pss=$((pss + s))
  done
  echo "$rss $pss"
}

# pids_matching EXE PATTERN prints the PIDs whose executable's base name is EXE and whose
# command line contains PATTERN (a fixed string).
pids_matching() {
  local d exe
  for d in /proc/[0-9]*; do
    exe=$(readlink "$d/exe" 2>/dev/null) || continue
    [ "${exe##*/}" = "$1" ] || continue
    tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "${d#/proc/}"
  done
  return 0
}

# missing P... prints those of the paths P that do not exist (the host-wide paths an
# engine creates outside its state directories, to remove at teardown).
missing() {
  local p
  for p in "$@"; do [ -e "$p" ] || echo "$p"; done
}

# runc_delete_under ROOT PREFIX force-deletes the containers in runc state root ROOT whose
# bundle lies under PREFIX (containers of a benchmark run that was killed).
runc_delete_under() {
  local id
  [ -d "$1" ] || return 0
  for id in $(runc --root "$1" list -f json 2>/dev/null | jq -r --arg p "$2" '.[]? | select(.bundle | startswith($p)) | .id'); do
    runc --root "$1" delete -f "$id" >/dev/null 2>&1 || true
  done
}

# umount_under DIR... lazily unmounts everything mounted below each DIR, deepest first.
umount_under() {
  local d
  for d in "$@"; do
    awk -v p="$d/" 'index($5, p) == 1 || $5 == substr(p, 1, length(p) - 1) { print $5 }' /proc/self/mountinfo |
      sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  done
}

# stop_pid PID waits up to 20 s for PID to exit after SIGTERM, then SIGKILLs it.
stop_pid() {
  local i
  kill "$1" 2>/dev/null || return 0
  for i in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

# cpu_idle_pct SECS prints the share (percent) of CPU time the whole machine spent idle,
# not counting I/O wait, over the next SECS seconds (from /proc/stat).
cpu_idle_pct() {
  local -a a b
  read -r -a a </proc/stat
  sleep "$1"
  read -r -a b </proc/stat
  awk -v a="${a[*]:1:8}" -v b="${b[*]:1:8}" 'BEGIN {
    split(a, x); split(b, y); for (i = 1; i <= 8; i++) t += y[i] - x[i]
    printf "%d", t ? 100 * (y[4] - x[4]) / t : 100 }'
}

# wait_idle PCT SECS waits up to SECS seconds for a second in which the machine was at
# least PCT % idle (other people's work skews sub-second timings) and prints the idle
# percentage it saw last; it returns non-zero when it gave up.
wait_idle() {
  local end=$((SECONDS + $2)) idle
  while :; do
    idle=$(cpu_idle_pct 1)
    [ "$idle" -ge "$1" ] && { echo "$idle"; return 0; }
    [ "$SECONDS" -lt "$end" ] || { echo "$idle"; return 1; }
  done
}

# wait_for CMD... retries CMD for up to 20 s.
wait_for() {
  local i
  for i in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

bench_cleanup() {
  local i
  set +e
  for ((i = ${#BENCH_DOWN[@]} - 1; i >= 0; i--)); do "${BENCH_DOWN[i]}" || true; done
  # BENCH_LOGS=DIR keeps the daemons' and registries' logs for profiling.
  [ -n "${BENCH_LOGS:-}" ] && mkdir -p "$BENCH_LOGS" && cp "$BENCH_WORK"/*.log "$BENCH_LOGS/" 2>/dev/null
  umount_under "$BENCH_WORK"
  rm -rf "$BENCH_WORK"
}

# host_facts prints one line naming the machine, for result headers.
host_facts() {
  printf '%s, %s cores, %s GiB, kernel %s' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
    "$(awk '/MemTotal/ { printf "%d", $2 / 1048576 + 0.5 }' /proc/meminfo)" "$(uname -r)"
}

# ---- Berth ---------------------------------------------------------------------------

# berth_up starts a private berthd (own data root, exec root and socket, fixtures registry
# as docker.io mirror), exports BERTH_HOST for ./bin/berth and sets BERTHD_PID,
# BERTH_DATA, BERTH_EXEC. Pass -D to log API calls at debug level ($BENCH_WORK/berthd.log);
# set BERTHD to run another berthd binary (e.g. one built with symbols, for perf).
berth_up() {
  berthd_start "$@" && berth pull -q busybox >/dev/null && berth pull -q "$IMAGE" >/dev/null
}

# berthd_start [ARGS...] starts the private berthd on an empty data root (the part of
# berth_up before its pulls; after berth_down, it starts a fresh one). The log goes to
# $BENCH_WORK/berthd.log, appended to.
berthd_start() {
  BERTH_DATA=/var/lib/berth-bench-$$ BERTH_EXEC=/run/bb-$$
  berth_net_before
  echo "{\"registry-mirrors\": [\"http://$BERTH_TEST_REGISTRY\"], \"bridge\": \"$BERTH_BRIDGE\"}" >"$BENCH_WORK/daemon.json"
  "${BERTHD:-$BENCH_REPO/bin/berthd}" "$@" --data-root "$BERTH_DATA" --exec-root "$BERTH_EXEC" \
    --config-file "$BENCH_WORK/daemon.json" --no-docker-hub >>"$BENCH_WORK/berthd.log" 2>&1 &
  BERTHD_PID=$!
  [[ " ${BENCH_DOWN[*]} " == *" berth_down "* ]] || BENCH_DOWN+=(berth_down)
  export BERTH_HOST=unix://$BERTH_EXEC/berth.sock BERTH_NO_AUTOSTART=1
  wait_for berth version || { note "berthd did not start:"; tail -5 "$BENCH_WORK/berthd.log" >&2; return 1; }
}

# berth runs the freshly built CLI against the private daemon (BERTH_CLI: the same as
# a command line, for hyperfine).
berth() { "$BENCH_REPO/bin/berth" "$@"; }
# shellcheck disable=SC2034
BERTH_CLI=$BENCH_REPO/bin/berth

# berthd_pid prints berthd's PID; berth_shims those of its berth-shim processes.
berthd_pid() { echo "$BERTHD_PID"; }
berth_shims() { pids_matching berth-shim "$BERTH_EXEC/"; }

# berth_rm_all removes every container of the private berthd.
berth_rm_all() {
  local ids
  ids=$(berth ps -aq 2>/dev/null) && [ -n "$ids" ] && berth rm -f $ids >/dev/null 2>&1
  return 0
}

berth_down() {
  local p
  [ -n "${BERTHD_PID:-}" ] || return 0
  berth_rm_all
  stop_pid "$BERTHD_PID"
  # Containers survive berthd by design: end whatever is left of ours.
  for p in $(berth_shims); do kill -KILL "$p" 2>/dev/null; done
  runc_delete_under "$BERTH_EXEC/runc" /
  umount_under "$BERTH_DATA" "$BERTH_EXEC"
  rm -rf "$BERTH_DATA" "$BERTH_EXEC"
  berth_net_cleanup
  BERTHD_PID=
}

# BERTH_BRIDGE is the private berthd's default bridge (daemon.json "bridge"), so that it
# never shares berth0 with another berthd on the host.
BERTH_BRIDGE=bbench0

# berth_net_before notes what the host had before berthd started: whether Berth's nftables
# table existed and the ip_forward setting (berthd turns it on).
berth_net_before() {
  [ -n "${BERTH_TABLE_EXISTED:-}" ] && return 0
  nft list table ip berth >/dev/null 2>&1 && BERTH_TABLE_EXISTED=1 || BERTH_TABLE_EXISTED=0
  IP_FORWARD_WAS=$(cat /proc/sys/net/ipv4/ip_forward)
}

# nft_del_rules FAMILY TABLE ERE deletes, by handle, the rules of nftables table
# FAMILY TABLE whose line matches the extended regular expression ERE.
nft_del_rules() {
  nft -a list table "$1" "$2" 2>/dev/null |
    awk -v re="$3" '$1 == "chain" { c = $2; next } $1 != "table" && $0 ~ re && / # handle [0-9]+$/ { print c, $NF }' |
    while read -r c h; do nft delete rule "$1" "$2" "$c" handle "$h" || true; done
}

# berth_net_cleanup removes what the stopped private berthd left in the kernel: its default
# bridge, the nftables rules tagged with it (Berth's table and ip filter FORWARD), Berth's
# table itself when we brought it and no other berthd has rules in it, and ip_forward.
berth_net_cleanup() {
  local re="comment \"berth:(net:$BERTH_BRIDGE|port:[^\"]*,$BERTH_BRIDGE,[^\"]*)\""
  ip link del "$BERTH_BRIDGE" 2>/dev/null || true
  nft_del_rules ip berth "$re"
  nft_del_rules ip filter "$re"
  if [ "${BERTH_TABLE_EXISTED:-1}" = 0 ] && [[ $(nft list table ip berth 2>/dev/null) != *'comment "berth:'[np][eo]* ]]; then
    nft delete table ip berth 2>/dev/null || true
  fi
  [ "${IP_FORWARD_WAS:-1}" = 0 ] && echo 0 >/proc/sys/net/ipv4/ip_forward
  BERTH_TABLE_EXISTED='' IP_FORWARD_WAS=''
  return 0
}

# ---- runc floor ----------------------------------------------------------------------

# floor_bundle DIR builds DIR/rootfs (the busybox layer) and DIR/config.json: the
# config.json Berth itself hands to runc, pointed at DIR. Needs berth_up.
floor_bundle() {
  local dir=$1 oci=$BERTH_TEST_BUSYBOX_OCI idx man layer cid cdir
  mkdir -p "$dir/rootfs"
  idx=$(jq -r '.manifests[0].digest' "$oci/index.json" | cut -d: -f2)
  man=$(jq -r '.manifests[] | select(.platform.architecture=="amd64") | .digest' "$oci/blobs/sha256/$idx" | cut -d: -f2)
  layer=$(jq -r '.layers[0].digest' "$oci/blobs/sha256/$man" | cut -d: -f2)
  tar -xzf "$oci/blobs/sha256/$layer" -C "$dir/rootfs"
  cid=$(berth run -d busybox sleep 60)
  cdir=$BERTH_DATA/containers/$cid
  cp "$cdir/hostname" "$cdir/hosts" "$cdir/resolv.conf" "$dir/"
  jq --arg b "$dir" --arg c "$cdir" '.root.path = ($b + "/rootfs") | .process.args = ["true"] |
    .linux.cgroupsPath = "/berth-bench/floor" |
    .mounts |= map(if (.source|startswith($c)) then .source = ($b + (.source|ltrimstr($c))) else . end)' \
    "$cdir/config.json" >"$dir/config.json"
  berth rm -f "$cid" >/dev/null
}

# floor_variant SRC DST CGROUP ARGS... writes bundle DST sharing SRC's rootfs, with
# another cgroup path and process args.
floor_variant() {
  local src=$1 dst=$2 cg=$3
  shift 3
  mkdir -p "$dst"
  jq --arg cg "$cg" --argjson args "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
    '.process.args = $args | .linux.cgroupsPath = $cg' "$src/config.json" >"$dst/config.json"
}

# ---- Docker --------------------------------------------------------------------------

DOCKER_SOCK=/run/berth-bench-docker/docker.sock
DOCKER_DATA=/var/lib/berth-bench-docker
DOCKER_EXEC=/run/berth-bench-docker
CTRD_ROOT=/var/lib/berth-bench-containerd
CTRD_STATE=/run/berth-bench-containerd
CTRD_SOCK=$CTRD_STATE/containerd.sock

# dk runs the docker CLI (the one first on PATH) against the private dockerd (DOCKER_CLI:
# the same as a command line).
dk() { docker -H "unix://$DOCKER_SOCK" "$@"; }
# shellcheck disable=SC2034
DOCKER_CLI="docker -H unix://$DOCKER_SOCK"

# docker_up starts a private containerd and dockerd (Debian's docker.io) on their own
# sockets and state, and pulls busybox. Sets CTRD_PID and DOCKERD_PID.
docker_up() {
  command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v docker >/dev/null ||
    { note "docker: skipped (dockerd, containerd or docker not installed: apt-get install docker.io)"; return 1; }
  if [ -S "$DOCKER_SOCK" ] && dk version >/dev/null 2>&1; then
    note "docker: skipped (another benchmark's dockerd is running on $DOCKER_SOCK)"
    return 1
  fi
  FORWARD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
  ip link show docker0 >/dev/null 2>&1 && DOCKER0_EXISTED=1 || DOCKER0_EXISTED=0
  # dockerd and the containerd shims also write these, whatever their state directories.
  mapfile -t DOCKER_HOST_DIRS < <(missing /run/docker /run/containerd /etc/docker/key.json)
  BENCH_DOWN+=(docker_down)
  docker_leftovers
  umount_under "$DOCKER_DATA" "$DOCKER_EXEC" "$CTRD_ROOT" "$CTRD_STATE"
  rm -rf "$DOCKER_DATA" "$DOCKER_EXEC" "$CTRD_ROOT" "$CTRD_STATE" # leftovers of a killed run
  mkdir -p "$CTRD_STATE"
  cat >"$BENCH_WORK/containerd.toml" <<EOF
version = 2
root = "$CTRD_ROOT"
state = "$CTRD_STATE"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD_SOCK"
EOF
  containerd --config "$BENCH_WORK/containerd.toml" >"$BENCH_WORK/containerd.log" 2>&1 &
  CTRD_PID=$!
  wait_for test -S "$CTRD_SOCK" || { note "docker: containerd did not start"; return 1; }
  dockerd --data-root "$DOCKER_DATA" --exec-root "$DOCKER_EXEC" -H "unix://$DOCKER_SOCK" \
    --pidfile "$DOCKER_EXEC.pid" --containerd "$CTRD_SOCK" --iptables=false --bip 172.31.254.1/24 \
    >"$BENCH_WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  wait_for dk version || { note "docker: dockerd did not start:"; tail -5 "$BENCH_WORK/dockerd.log" >&2; return 1; }
  dk pull -q "$IMAGE" >/dev/null
}

# docker_daemons prints dockerd's and containerd's PIDs; docker_shims the per-container
# containerd-shim-runc-v2 processes'.
docker_daemons() { echo "$DOCKERD_PID" "$CTRD_PID"; }
docker_shims() { pids_matching containerd-shim-runc-v2 "$CTRD_SOCK"; }

docker_rm_all() {
  local ids
  ids=$(dk ps -aq 2>/dev/null) && [ -n "$ids" ] && dk rm -f $ids >/dev/null 2>&1
  return 0
}

# docker_leftovers ends the containers and shims a killed run may have left running.
docker_leftovers() {
  local p
  runc_delete_under /run/containerd/runc/moby "$CTRD_STATE/"
  for p in $(docker_shims); do kill -KILL "$p" 2>/dev/null; done
  return 0
}

docker_down() {
  [ -n "${DOCKERD_PID:-}" ] && docker_rm_all && stop_pid "$DOCKERD_PID"
  [ -n "${CTRD_PID:-}" ] && stop_pid "$CTRD_PID"
  docker_leftovers
  umount_under "$DOCKER_DATA" "$DOCKER_EXEC" "$CTRD_ROOT" "$CTRD_STATE"
  rm -rf "$DOCKER_DATA" "$DOCKER_EXEC" "$DOCKER_EXEC.pid" "$CTRD_ROOT" "$CTRD_STATE"
  [ "${DOCKER0_EXISTED:-1}" = 0 ] && { ip link del docker0 2>/dev/null || true; }
  DOCKER0_EXISTED=1
  rm -rf "${DOCKER_HOST_DIRS[@]}"
  DOCKER_HOST_DIRS=()
  if [ -n "${FORWARD_POLICY:-}" ] && [ "$(iptables -S FORWARD | awk '$1 == "-P" { print $3 }')" != "$FORWARD_POLICY" ]; then
    iptables -P FORWARD "$FORWARD_POLICY" && note "docker: restored iptables FORWARD policy $FORWARD_POLICY"
  fi
  DOCKERD_PID='' CTRD_PID=''
  return 0
}

# ---- Podman --------------------------------------------------------------------------

PODMAN_ROOT=/var/lib/berth-bench-podman
PODMAN_RUN=/run/berth-bench-podman

# pm runs podman on the private store with runc, cgroupfs and k8s-file logs (PODMAN_CLI:
# the same as a command line, with CONTAINERS_CONF exported by podman_up).
pm() { podman --root "$PODMAN_ROOT" --runroot "$PODMAN_RUN/run" "$@"; }
# shellcheck disable=SC2034
PODMAN_CLI="podman --root $PODMAN_ROOT --runroot $PODMAN_RUN/run"

# podman_up writes the containers.conf Podman needs here and pulls busybox.
podman_up() {
  command -v podman >/dev/null || { note "podman: skipped (not installed: apt-get install podman)"; return 1; }
  NETAVARK_EXISTED=$( (iptables -S; iptables -t nat -S) 2>/dev/null | grep -c NETAVARK || true)
  ip link show podman0 >/dev/null 2>&1 && PODMAN0_EXISTED=1 || PODMAN0_EXISTED=0
  # Podman also writes a few host-wide paths: remove those that did not exist before.
  mapfile -t PODMAN_HOST_DIRS < <(missing /run/containers /etc/containers/networks)
  BENCH_DOWN+=(podman_down)
  PODMAN_UP=1
  runc_delete_under /run/runc "$PODMAN_ROOT/"
  umount_under "$PODMAN_ROOT" "$PODMAN_RUN"
  rm -rf "$PODMAN_ROOT" "$PODMAN_RUN"
  cat >"$BENCH_WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PODMAN_RUN/libpod"
EOF
  export CONTAINERS_CONF=$BENCH_WORK/containers.conf
  pm pull -q --tls-verify=false "$IMAGE" >/dev/null
}

# podman_shims prints the PIDs of our containers' conmon processes (Podman has no daemon).
podman_shims() { pids_matching conmon "$PODMAN_ROOT/"; }

podman_rm_all() { pm rm -f -t 0 -a >/dev/null 2>&1 || true; }

podman_down() {
  local t c
  [ -n "${PODMAN_UP:-}" ] || return 0
  podman_rm_all
  runc_delete_under /run/runc "$PODMAN_ROOT/"
  umount_under "$PODMAN_ROOT" "$PODMAN_RUN"
  rm -rf "$PODMAN_ROOT" "$PODMAN_RUN"
  # netavark leaves its chains and jump rules behind: remove them when we brought them.
  if [ "${NETAVARK_EXISTED:-1}" = 0 ]; then
    for t in filter nat; do
      iptables -t "$t" -S | grep -- '-j NETAVARK' | grep '^-A' | sed 's/^-A/-D/' |
        while read -r rule; do eval "iptables -t $t $rule"; done
      for c in $(iptables -t "$t" -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ { print $2 }'); do
        iptables -t "$t" -F "$c"
      done
      for c in $(iptables -t "$t" -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ { print $2 }'); do
        iptables -t "$t" -X "$c"
      done
    done
  fi
  [ "${PODMAN0_EXISTED:-1}" = 0 ] && { ip link del podman0 2>/dev/null || true; }
  rm -rf "${PODMAN_HOST_DIRS[@]}"
  PODMAN_UP=
  return 0
}

# ---- Registries ----------------------------------------------------------------------

declare -A REG_PID REG_ADDR

# free_port prints a TCP port from 5100 up that nothing listens on.
free_port() {
  local p
  for p in $(seq 5100 5999); do
    [ -z "$(ss -Hltn "sport = :$p")" ] && { echo "$p"; return 0; }
  done
  return 1
}

# registry_up NAME starts a private Debian docker-registry on a free 127.0.0.1 port with
# empty storage $BENCH_WORK/reg-NAME (deletes enabled; access log in
# $BENCH_WORK/reg-NAME.log) and sets REG_ADDR[NAME] (host:port)
# and REG_PID[NAME]. Called again for NAME, it restarts it empty on the same port.
registry_up() {
  local n=$1 dir=$BENCH_WORK/reg-$1 port
  command -v docker-registry >/dev/null || { note "docker-registry not installed (apt-get install docker-registry)"; return 1; }
  registry_down "$n"
  port=${REG_ADDR[$n]:-}
  port=${port##*:}
  [ -n "$port" ] || port=$(free_port)
  REG_ADDR[$n]=127.0.0.1:$port
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$dir/config.yml" >>"$BENCH_WORK/reg-$n.log" 2>&1 &
  REG_PID[$n]=$!
  [[ " ${BENCH_DOWN[*]} " == *" registries_down "* ]] || BENCH_DOWN+=(registries_down)
  wait_for curl -fsS "http://127.0.0.1:$port/v2/" || { note "registry $n did not start"; tail -5 "$BENCH_WORK/reg-$n.log" >&2; return 1; }
}

# registry_down NAME stops registry NAME and deletes its storage.
registry_down() {
  if [ -n "${REG_PID[$1]:-}" ]; then
    stop_pid "${REG_PID[$1]}"
    wait "${REG_PID[$1]}" 2>/dev/null || true
  fi
  REG_PID[$1]=''
  rm -rf "$BENCH_WORK/reg-$1/data"
  return 0
}

registries_down() {
  local n
  for n in "${!REG_PID[@]}"; do registry_down "$n"; done
}
