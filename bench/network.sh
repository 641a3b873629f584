#!/usr/bin/env bash
# Benchmarks container networking, Berth beside Docker (a private dockerd with iptables on,
# as shipped: -p through iptables DNAT plus docker-proxy), in one run:
#
#  1. HTTP from the host with wrk (THREADS threads, CONNS connections, DURATION, ROUNDS
#     rounds, medians) to three servers in busybox containers: bench/httpd (Go, copied in
#     with `cp`) with keep-alive ("go") and with a new connection per request
#     ("go-close"), and busybox `httpd` (a forked process per connection, listen backlog
#     9). Each is reached at the container's IP (direct), at 127.0.0.1:PORT and at the
#     host's primary IP:PORT (published with -p PORT:80). Rounds go round-robin over
#     servers, engines and paths so that noise spreads evenly; wrk and the servers share
#     the machine's cores. The host's TCPSynRetrans count during each run is recorded.
#  2. `network create` + `network rm` of a bridge network, NETROUNDS rounds, medians (also
#     the docker CLI against berthd, to separate daemon from client time).
#  3. `run --rm busybox true` with --network none and on the default bridge (hyperfine,
#     RUNS runs each): the time the bridge adds.
#
#   bench/network.sh     ROUNDS=3 DURATION=10s THREADS=2 CONNS=32 NETROUNDS=20 RUNS=20
#                        ENGINES="berth docker" BIN=bin (where berthd, berth-shim, berth are)
#
# Docker's iptables chains and rules are removed at the end (dockerd leaves them behind),
# the FORWARD policy and Berth's nftables rules for its bench bridge likewise; the host is
# checked against what it was before. Writes bench/results/network-<date>.txt.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
NETROUNDS=${NETROUNDS:-20}
RUNS=${RUNS:-20}
ENGINES=${ENGINES:-berth docker}
BIN=${BIN:-$BENCH_REPO/bin}
BERTHD=${BERTHD:-$BIN/berthd}
command -v hyperfine >/dev/null || ./scripts/deps.sh
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null

# The berth CLI drives berthd; the docker CLI stands in when this berth lacks `network`.
BERTH_NAME=berth
berth() { "$BIN/berth" "$@"; }
BERTH_CLI=$BIN/berth
if ! "$BIN/berth" network create --help >/dev/null 2>&1; then
  note "berth CLI without network commands: driving berthd with the docker CLI"
  BERTH_NAME="docker CLI → berthd"
  berth() { docker -H "$BERTH_HOST" "$@"; }
  BERTH_CLI="docker -H unix:///run/bb-$$/berth.sock"
fi

mkdir -p bench/results
OUT=$BENCH_REPO/bench/results/network-$(date -u +%Y%m%d-%H%M).txt
RAW=$BENCH_WORK/raw.txt
: >"$RAW"
raw() { printf '%s\n' "$*" >>"$RAW"; }

# ---- host state, before and after -----------------------------------------------------

links() { ip -br link | awk '{ sub(/@.*/, "", $1); print $1 }' | sort; }
fwd_policy() { nft list chain ip filter FORWARD 2>/dev/null | awk '/policy/ { sub(/;/, "", $NF); print $NF; exit }'; }
links >"$BENCH_WORK/links.before"
nft list ruleset >"$BENCH_WORK/nft.before"
HOST_BEFORE="links $(wc -l <"$BENCH_WORK/links.before"), nft ruleset lines $(wc -l <"$BENCH_WORK/nft.before"), netns $(ip netns list | wc -l), FORWARD policy $(fwd_policy), ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"

# host_check (run last at exit) compares the host with what it was before and lists what
# of ours is left, appending to the results file when it was written.
host_check() {
  local after left
  links >"$BENCH_WORK/links.after"
  nft list ruleset >"$BENCH_WORK/nft.after"
  after="links $(wc -l <"$BENCH_WORK/links.after"), nft ruleset lines $(wc -l <"$BENCH_WORK/nft.after"), netns $(ip netns list | wc -l), FORWARD policy $(fwd_policy), ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
  left=$( {
    grep -E "^($BERTH_BRIDGE|docker0)$" "$BENCH_WORK/links.after" | grep -vxF -f "$BENCH_WORK/links.before"
    grep -nE "$BERTH_BRIDGE|DOCKER|172\.31\.254\." "$BENCH_WORK/nft.after" | grep -vF -f <(grep -E "$BERTH_BRIDGE|DOCKER|172\.31\.254\." "$BENCH_WORK/nft.before" || echo '^$')
    pids_matching dockerd "$DOCKER_SOCK"; pids_matching docker-proxy 172.31.254.; pids_matching berthd "/run/bb-$$"
  } 2>/dev/null || true)
  {
    echo
    echo "host before: $HOST_BEFORE"
    echo "host after:  $after"
    echo "links added/removed meanwhile (other tests on this host make their own): $(comm -3 "$BENCH_WORK/links.before" "$BENCH_WORK/links.after" | tr -d '\t' | tr '\n' ' ')"
    if [ -n "$left" ]; then echo "LEFT BEHIND by this benchmark:"; echo "$left"; else echo "left behind by this benchmark: nothing (no $BERTH_BRIDGE, docker0, DOCKER chains, 172.31.254.0/24 rules, daemons)"; fi
  } | tee -a "${OUT_WRITTEN:-/dev/null}" >&2
}
BENCH_DOWN+=(host_check)

# ---- Docker with iptables --------------------------------------------------------------

DOCKER_NETS=() # short IDs of the networks our dockerd made (their rules name br-<id>)

# dockerd (as docker_up calls it) runs Debian's dockerd with iptables on.
dockerd() { exec dockerd "$@" --iptables=true; }

# docker_nft_restore (after docker_down) deletes the rules dockerd left in ip nat and ip
# filter (iptables-nft tables: dockerd never removes its chains), its DOCKER* chains,
# tables it created, and restores the FORWARD policy.
docker_nft_restore() {
  local t c re='DOCKER|"docker0"|172\.31\.254\.' n
  for n in "${DOCKER_NETS[@]}"; do re+="|\"br-$n\""; done
  for t in nat filter; do
    nft_del_rules ip "$t" "$re"
    for c in $(nft list table ip "$t" 2>/dev/null | awk '$1 == "chain" && $2 ~ /^DOCKER/ { print $2 }'); do nft flush chain ip "$t" "$c"; done
    for c in $(nft list table ip "$t" 2>/dev/null | awk '$1 == "chain" && $2 ~ /^DOCKER/ { print $2 }'); do nft delete chain ip "$t" "$c"; done
    # A table dockerd brought is deleted when no rule is left in it.
    if [[ " ${DOCKER_TABLES_BEFORE:-nat filter} " != *" $t "* ]] &&
      [ "$(nft list table ip "$t" 2>/dev/null | grep -cvE '^\s*(table|chain|type|\}|$)')" = 0 ]; then
      nft delete table ip "$t" 2>/dev/null || true
    fi
  done
  # dockerd sets the policy to drop only when it had to turn ip_forward on itself.
  if [ "${IPFWD_BEFORE_DOCKER:-1}" = 0 ] && [ -n "${DOCKER_FWD_BEFORE:-}" ] && [ "$(fwd_policy)" != "$DOCKER_FWD_BEFORE" ]; then
    nft add chain ip filter FORWARD "{ policy $DOCKER_FWD_BEFORE ; }" && note "docker: restored FORWARD policy $DOCKER_FWD_BEFORE"
  fi
  [ -n "${BRNF_BEFORE:-}" ] && echo "$BRNF_BEFORE" >/proc/sys/net/bridge/bridge-nf-call-iptables
  return 0
}

docker_net_up() {
  if [[ $(nft list ruleset) == *"chain DOCKER"* ]]; then
    note "docker: skipped (DOCKER chains already in the ruleset: another dockerd with iptables runs here)"
    return 1
  fi
  DOCKER_TABLES_BEFORE=$(nft list tables ip 2>/dev/null | awk '{ print $3 }' | tr '\n' ' ')
  DOCKER_FWD_BEFORE=$(fwd_policy)
  IPFWD_BEFORE_DOCKER=$(cat /proc/sys/net/ipv4/ip_forward)
  BRNF_BEFORE=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true)
  BENCH_DOWN+=(docker_nft_restore)
  docker_up
}

# ---- engines ---------------------------------------------------------------------------

UP=()
for e in $ENGINES; do
  case $e in
  berth) berth_up && UP+=(berth) ;;
  docker) if docker_net_up; then UP+=(docker); fi ;;
  esac
done
[ ${#UP[@]} -gt 0 ] || { note "no engine started"; exit 1; }

# on ENGINE ARGS... runs the engine's CLI (berth: the berth CLI, docker: docker CLI).
on() {
  local e=$1
  shift
  case $e in berth) berth "$@" ;; docker) dk "$@" ;; esac
}
label() { case $1 in berth) echo "Berth" ;; docker) echo "Docker" ;; esac; }

nets_down() {
  local e
  for e in "${UP[@]}"; do on "$e" network rm bbench-net >/dev/null 2>&1 || true; done
}
BENCH_DOWN+=(nets_down)

HOST_IP=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }')
[ -n "$HOST_IP" ] || HOST_IP=$(ip -4 -o addr show scope global | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CGO_ENABLED=0 "$GO" build -trimpath -ldflags '-s -w' -o "$BENCH_WORK/httpd" ./bench/httpd

USED_PORTS=" "
# next_port sets PORT to a TCP port from 5100 up that nothing listens on and we did not hand out.
next_port() {
  for PORT in $(seq 5100 5999); do
    [[ $USED_PORTS == *" $PORT "* ]] && continue
    [ -z "$(ss -Hltn "sport = :$PORT")" ] && { USED_PORTS+="$PORT "; return 0; }
  done
  return 1
}

BODY=$(head -c 99 /dev/zero | tr '\0' x) # 100 bytes with the newline, for both servers
declare -A URL  # URL[server/engine/path]
SERVERS=(go go-close busybox)
PATHS=(direct loopback hostip)

# go_server ENGINE SERVER ARGS... starts bench/httpd with ARGS in a busybox container
# published on a new port and fills URL[SERVER/ENGINE/*].
go_server() {
  local e=$1 s=$2 id ip
  shift 2
  next_port
  id=$(on "$e" create -p "$PORT:80" "$IMAGE" /httpd -addr :80 -size 100 "$@")
  on "$e" cp "$BENCH_WORK/httpd" "$id:/httpd"
  on "$e" start "$id" >/dev/null
  ip=$(on "$e" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id")
  URL[$s/$e/direct]=http://$ip/ URL[$s/$e/loopback]=http://127.0.0.1:$PORT/ URL[$s/$e/hostip]=http://$HOST_IP:$PORT/
}

# servers_up ENGINE starts the three servers in the engine's containers and fills URL.
servers_up() {
  local e=$1 id ip u
  next_port
  id=$(on "$e" run -d -p "$PORT:80" "$IMAGE" sh -c "mkdir -p /www && echo $BODY >/www/index.html && exec httpd -f -p 80 -h /www")
  ip=$(on "$e" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id")
  URL[busybox/$e/direct]=http://$ip/index.html URL[busybox/$e/loopback]=http://127.0.0.1:$PORT/index.html URL[busybox/$e/hostip]=http://$HOST_IP:$PORT/index.html
  go_server "$e" go
  go_server "$e" go-close -close
  for u in "${!URL[@]}"; do
    [[ $u == */$e/* ]] || continue
    wait_for curl -fsS -m 2 -o /dev/null "${URL[$u]}" || { note "$e: ${URL[$u]} does not answer"; return 1; }
  done
}

# synretrans prints the host's count of retransmitted SYNs (connections whose first SYN
# or its answer was lost: a listen queue overflow, a drop, or a SYN refused by a
# TIME_WAIT socket).
synretrans() { awk '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "TCPSynRetrans") c = i; h = 1 } else print $c }' /proc/net/netstat; }

# ---- 1. HTTP throughput and latency ---------------------------------------------------

# ms V prints a wrk latency (442.00us, 3.2ms, 1.01s) in milliseconds.
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }

declare -A RPS P50 P99 ERRS SYN
# bench_url KEY ROUND runs wrk once against URL[KEY] and records req/s, p50 and p99.
bench_url() {
  local k=$1 r=$2 f=$BENCH_WORK/wrk-${1//\//-}-$2.txt rps p50 p99 err syn
  syn=$(synretrans)
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${URL[$k]}" >"$f" 2>&1 || true
  syn=$(($(synretrans) - syn))
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
  p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$f")")
  p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$f")")
  err=$(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } /Non-2xx/ { n += $NF } END { print n + 0 }' "$f")
  RPS[$k]+=" ${rps:-0}" P50[$k]+=" $p50" P99[$k]+=" $p99" ERRS[$k]=$((${ERRS[$k]:-0} + err)) SYN[$k]+=" $syn"
  raw "http $k round $r url ${URL[$k]} rps ${rps:-0} p50_ms $p50 p99_ms $p99 errors $err syn_retrans $syn"
  note "http $k round $r: ${rps:-0} req/s, p50 $p50 ms, p99 $p99 ms, errors $err, SYN retransmits $syn"
}

raw "loadavg before http $(cut -d' ' -f1-3 /proc/loadavg)"
for e in "${UP[@]}"; do servers_up "$e"; done
# Warm-up: one second per URL, not counted.
for k in "${!URL[@]}"; do wrk -t"$THREADS" -c"$CONNS" -d1s "${URL[$k]}" >/dev/null 2>&1 || true; done
for r in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do
    for e in "${UP[@]}"; do
      for p in "${PATHS[@]}"; do bench_url "$s/$e/$p" "$r"; done
    done
  done
done
for e in "${UP[@]}"; do
  case $e in berth) berth_rm_all ;; docker) docker_rm_all ;; esac
done

# ---- 2. network create + rm -------------------------------------------------------------

raw "loadavg before network create/rm $(cut -d' ' -f1-3 /proc/loadavg)"
NETROWS=()
[[ " ${UP[*]} " == *" berth "* ]] && NETROWS+=(berth)
[[ " ${UP[*]} " == *" berth "* && $BERTH_NAME == berth ]] && NETROWS+=(dkberth)
[[ " ${UP[*]} " == *" docker "* ]] && NETROWS+=(docker)
netcli() {
  local row=$1
  shift
  case $row in berth) berth "$@" ;; dkberth) docker -H "$BERTH_HOST" "$@" ;; docker) dk "$@" ;; esac
}
netlabel() {
  case $1 in berth) echo "$BERTH_NAME" ;; dkberth) echo "docker CLI → berthd" ;; docker) echo "docker CLI → dockerd" ;; esac
}
declare -A NCREATE NRM NBOTH
for row in "${NETROWS[@]}"; do netcli "$row" network create bbench-net >/dev/null && netcli "$row" network rm bbench-net >/dev/null; done
for i in $(seq "$NETROUNDS"); do
  for row in "${NETROWS[@]}"; do
    t0=$(now_ns)
    id=$(netcli "$row" network create bbench-net)
    t1=$(now_ns)
    [ "$row" = docker ] && DOCKER_NETS+=("${id:0:12}")
    netcli "$row" network rm bbench-net >/dev/null
    t2=$(now_ns)
    NCREATE[$row]+=" $(((t1 - t0) / 1000))" NRM[$row]+=" $(((t2 - t1) / 1000))" NBOTH[$row]+=" $(((t2 - t0) / 1000))"
    raw "net $row round $i create_us $(((t1 - t0) / 1000)) rm_us $(((t2 - t1) / 1000))"
  done
done

# ---- 3. run --rm: --network none vs the default bridge ----------------------------------

raw "loadavg before run --rm $(cut -d' ' -f1-3 /proc/loadavg)"
# One hyperfine per engine, so that a failing engine leaves the other's numbers.
RUNOK=()
for e in "${UP[@]}"; do
  case $e in
  berth) cli=$BERTH_CLI ;;
  docker) cli=$DOCKER_CLI ;;
  esac
  if hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$BENCH_WORK/run-$e.json" \
    -n "$e none" "$cli run --rm --network none $IMAGE true" -n "$e bridge" "$cli run --rm $IMAGE true" >&2; then
    RUNOK+=("$e")
    jq -r '.results[] | "run \(.command | gsub(" "; "_")) times_ms \(.times | map(. * 1000 | floor) | join(" "))"' "$BENCH_WORK/run-$e.json" >>"$RAW"
  else
    note "$e: run --rm failed: $($cli run --rm $IMAGE true 2>&1 | tail -1)"
    raw "run $e FAILED: $($cli run --rm $IMAGE true 2>&1 | tail -1)"
  fi
done
raw "loadavg at the end $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report ----------------------------------------------------------------------------

# shellcheck disable=SC2086
med() { median $1; }
# persec N prints N per second of DURATION (wrk's 10s, 2m, 1h).
persec() { awk -v n="$1" -v d="$DURATION" 'BEGIN { s = d + 0; if (d ~ /m$/) s *= 60; else if (d ~ /h$/) s *= 3600; printf "%.0f", n / s }'; }
f0() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
f2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", a / b * 100 }'; }
{
  echo "### Networking, $(host_facts); wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds (medians); host IP $HOST_IP"
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the host adds noise)."
  echo "wrk and the servers share the $(nproc) cores. busybox httpd forks per connection and closes it"
  echo "(no keep-alive: every request is a new connection, listen backlog 9); go is bench/httpd with keep-alive,"
  echo "go-close the same with a new connection per request (Connection: close)."
  echo
  echo "| server | engine | path | req/s | p50 | p99 | % of direct | SYN retransmits / s | errors |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for s in "${SERVERS[@]}"; do
    for e in "${UP[@]}"; do
      d=$(med "${RPS[$s/$e/direct]}")
      for p in "${PATHS[@]}"; do
        k=$s/$e/$p
        case $p in direct) pl="container IP:80" ;; loopback) pl="127.0.0.1:PORT" ;; hostip) pl="$HOST_IP:PORT" ;; esac
        echo "| $s | $(label "$e") | $pl | $(f0 "$(med "${RPS[$k]}")") | $(f2 "$(med "${P50[$k]}")") ms | $(f2 "$(med "${P99[$k]}")") ms | $(pct "$(med "${RPS[$k]}")" "$d") | $(persec "$(med "${SYN[$k]}")") | ${ERRS[$k]} |"
      done
    done
  done
  if [[ " ${UP[*]} " == *" berth "* && " ${UP[*]} " == *" docker "* ]]; then
    echo
    for s in "${SERVERS[@]}"; do
      for p in loopback hostip; do
        echo "- $s, published at ${p/hostip/host IP}: Berth / Docker req/s = $(pct "$(med "${RPS[$s/berth/$p]}")" "$(med "${RPS[$s/docker/$p]}")")"
      done
    done
  fi
  echo
  echo "### \`network create\` + \`network rm\`, $NETROUNDS rounds (medians)"
  echo
  echo "| client → daemon | create | rm | create + rm |"
  echo "|---|---|---|---|"
  for row in "${NETROWS[@]}"; do
    echo "| $(netlabel "$row") | $(f2 "$(med "${NCREATE[$row]}")e-3") ms | $(f2 "$(med "${NRM[$row]}")e-3") ms | $(f2 "$(med "${NBOTH[$row]}")e-3") ms |"
  done
  echo
  echo "### \`run --rm busybox true\`: --network none vs the default bridge, $RUNS runs each (hyperfine medians)"
  echo
  echo "| engine | --network none | default bridge | added by the bridge |"
  echo "|---|---|---|---|"
  for e in "${RUNOK[@]}"; do
    jq -r --arg e "$e" --arg l "$(label "$e")" '[.results[] | select(.command | startswith($e + " "))] as $r |
      ($r[] | select(.command | endswith("none")) | .median) as $n | ($r[] | select(.command | endswith("bridge")) | .median) as $b |
      "| \($l) | \($n * 1000 | . * 10 | floor / 10) ms | \($b * 1000 | . * 10 | floor / 10) ms | \(($b - $n) * 1000 | . * 10 | floor / 10) ms |"' "$BENCH_WORK/run-$e.json"
  done
  echo
  echo "#### Commands"
  echo
  echo "    wrk -t$THREADS -c$CONNS -d$DURATION --latency URL   (URL: container IP:80, 127.0.0.1:PORT, $HOST_IP:PORT)"
  echo "    busybox: run -d -p PORT:80 busybox sh -c 'mkdir -p /www && echo <99 x> >/www/index.html && exec httpd -f -p 80 -h /www'"
  echo "    go:      create -p PORT:80 busybox /httpd -addr :80 -size 100; cp bench/httpd binary CTR:/httpd; start CTR"
  echo "    go-close: the same with /httpd -addr :80 -size 100 -close"
  echo "    network create bbench-net; network rm bbench-net   (wall time of each CLI call)"
  echo "    hyperfine -N --warmup 3 --runs $RUNS 'CLI run --rm --network none busybox true' 'CLI run --rm busybox true'"
  echo "    Docker: Debian dockerd $(command dockerd --version 2>/dev/null | awk '{ print $3 }' | tr -d ,) with --iptables=true (docker-proxy on), docker CLI $(docker version -f '{{.Client.Version}}' 2>/dev/null || true)"
  echo "    Berth: $BERTH_NAME, berthd from $BERTHD, default bridge $BERTH_BRIDGE (nftables DNAT, no proxy)"
  echo
  echo "#### Raw numbers"
  echo
  cat "$RAW"
} >"$OUT"
OUT_WRITTEN=$OUT
sed -n '1,/^#### Commands/p' "$OUT" | head -n -1
echo "wrote $OUT"
