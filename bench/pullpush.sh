#!/usr/bin/env bash
# Pull and push of a ~106 MB image in 5 layers (busybox plus 5 × 20 MiB of random data,
# gzip -1) through a private loopback docker-registry, with Berth, Docker, Podman and
# skopeo in the same run, medians of ROUNDS:
#   - pull from a clean engine state each round (download + unpack, ready to run): Berth
#     on a fresh berthd data root; Docker after `rmi` + `image prune -a` (checked: no
#     layer left in its layerdb); Podman after `rmi` (checked: no overlay layer left);
#     skopeo to a fresh `dir:` (no unpack);
#   - re-pull of the image with every layer present (hyperfine -N, REPULLS runs);
#   - push to a second registry restarted on empty storage before every push, so every
#     blob is uploaded (no cross-repo mount possible): `docker push`, `berth push` (when
#     the CLI has it), `podman push`, and skopeo `dir:` → registry (upload only).
#
#   bench/pullpush.sh      ROUNDS=5 REPULLS=20 ENGINES="berth docker podman skopeo"
#                          BERTHD_ARGS=-D: berthd's debug log; BENCH_LOGS=DIR keeps the
#                          daemons' and registries' logs (with the registries' access logs)
#
# Writes bench/results/pullpush-<date>.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
REPULLS=${REPULLS:-20}
ENGINES=${ENGINES:-berth docker podman skopeo}
read -r -a BERTHD_ARGS <<<"${BERTHD_ARGS:-}"
PULL_ROWS=() PUSH_ROWS=() REPULL_ROWS=()

fmt_s() { awk -v s="$1" 'BEGIN { printf "%.2f", s }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
hf_median() { jq -r '.results[0].median' "$1"; }

# build_big DIR writes the benchmark image as an OCI layout in DIR: layer 1 is the busybox
# rootfs plus /data/r1, layers 2–5 hold /data/r2 … /data/r5, each 20 MiB of random bytes.
build_big() {
  local out=$1 src=$BERTH_TEST_BUSYBOX_OCI idx man bl i l tarf dig diffs="" layers="" sz cfg mf
  mkdir -p "$out/blobs/sha256"
  idx=$(jq -r '.manifests[0].digest' "$src/index.json" | cut -d: -f2)
  man=$(jq -r '.manifests[] | select(.platform.architecture=="amd64") | .digest' "$src/blobs/sha256/$idx" | cut -d: -f2)
  bl=$(jq -r '.layers[0].digest' "$src/blobs/sha256/$man" | cut -d: -f2)
  for i in 1 2 3 4 5; do
    l=$BENCH_WORK/big-l$i
    mkdir -p "$l/data"
    [ "$i" = 1 ] && tar -xzf "$src/blobs/sha256/$bl" -C "$l"
    head -c 20M /dev/urandom >"$l/data/r$i"
    tarf=$BENCH_WORK/big-l$i.tar
    tar -C "$l" --sort=name --mtime=@0 --numeric-owner -cf "$tarf" .
    diffs+="\"sha256:$(sha256sum "$tarf" | cut -d' ' -f1)\","
    gzip -1 -c "$tarf" >"$tarf.gz"
    dig=$(sha256sum "$tarf.gz" | cut -d' ' -f1)
    mv "$tarf.gz" "$out/blobs/sha256/$dig"
    layers+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dig\",\"size\":$(stat -c %s "$out/blobs/sha256/$dig")},"
    rm -rf "$l" "$tarf"
  done
  cfg=$(jq -nc --argjson d "[${diffs%,}]" '{architecture: "amd64", os: "linux", created: "2026-01-01T00:00:00Z",
    config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"]},
    rootfs: {type: "layers", diff_ids: $d},
    history: [range(5) | {created: "2026-01-01T00:00:00Z", created_by: "bench/pullpush.sh layer \(. + 1)"}]}')
  printf '%s' "$cfg" >"$BENCH_WORK/cfg"
  dig=$(sha256sum "$BENCH_WORK/cfg" | cut -d' ' -f1) sz=$(stat -c %s "$BENCH_WORK/cfg")
  mv "$BENCH_WORK/cfg" "$out/blobs/sha256/$dig"
  mf=$(jq -nc --arg c "sha256:$dig" --argjson s "$sz" --argjson l "[${layers%,}]" '{schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $s}, layers: $l}')
  printf '%s' "$mf" >"$BENCH_WORK/mf"
  dig=$(sha256sum "$BENCH_WORK/mf" | cut -d' ' -f1) sz=$(stat -c %s "$BENCH_WORK/mf")
  mv "$BENCH_WORK/mf" "$out/blobs/sha256/$dig"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
  jq -nc --arg d "sha256:$dig" --argjson s "$sz" '{schemaVersion: 2, manifests: [{mediaType:
    "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
    annotations: {"org.opencontainers.image.ref.name": "latest"}}]}' >"$out/index.json"
}

# pushed_layers REF prints how many layers the manifest of REF lists (0 if none).
pushed_layers() {
  skopeo inspect --tls-verify=false --raw "docker://$1" 2>/dev/null | jq '.layers | length' 2>/dev/null || echo 0
}

# registry_requests NAME prints how many HTTP requests registry NAME has logged.
registry_requests() { grep -c 'response completed' "$BENCH_WORK/reg-$1.log" || true; }

# time_ns CMD... runs CMD quietly and prints its wall time in ns (fails when CMD fails).
time_ns() {
  local t0
  t0=$(now_ns)
  "$@" >/dev/null || { note "failed: $*"; return 1; }
  echo $(($(now_ns) - t0))
}

# ---- per-engine steps: clean state, pull, re-pull command, push ----------------------

berth_clean() { berth_down; berthd_start "${BERTHD_ARGS[@]}"; }
berth_pull() { berth pull -q "$BIG"; }
berth_ready() { berth run --rm "$BIG" sh -c 'cat /data/r* | wc -c'; }
# Without `berth tag`, the image gets the pushed name by a pull from the push registry,
# which is then restarted empty.
berth_push_prep() {
  berth tag "$BIG" "$1" 2>/dev/null && return 0
  berth image inspect "$1" >/dev/null 2>&1 && return 0
  skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$BIG" "docker://$1"
  berth pull -q "$1" >/dev/null
  registry_up push
}
berth_push() { berth push -q "$1"; }

docker_clean() {
  dk rmi -f "$BIG" "$PUSH_REF" >/dev/null 2>&1 || true
  dk image prune -af >/dev/null
  local n
  n=$(find "$DOCKER_DATA/image/overlay2/layerdb/sha256" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  [ "$n" = 0 ] || { note "docker: $n layers left after rmi + prune"; return 1; }
}
docker_pull() { dk pull -q "$BIG"; }
docker_ready() { dk run --rm --network none "$BIG" sh -c 'cat /data/r* | wc -c'; }
docker_push_prep() { dk tag "$BIG" "$1"; }
docker_push() { dk push -q "$1"; }

podman_clean() {
  pm rmi -af >/dev/null 2>&1 || true
  local n
  n=$( (pm images -qa; find "$PODMAN_ROOT/overlay" -mindepth 1 -maxdepth 1 ! -name l ! -name ".*" 2>/dev/null || true) | wc -l)
  [ "$n" = 0 ] || { note "podman: $n images or layers left after rmi -a"; return 1; }
}
podman_pull() { pm pull -q --tls-verify=false "$BIG"; }
podman_ready() { pm run --rm --network none "$BIG" sh -c 'cat /data/r* | wc -c'; }
podman_push_prep() { :; }
podman_push() { pm push -q --tls-verify=false "$BIG" "docker://$1"; }

SKOPEO_DIR=
skopeo_clean() { SKOPEO_DIR=$BENCH_WORK/skopeo-dir; rm -rf "$SKOPEO_DIR"; }
skopeo_pull() { skopeo copy -q --src-tls-verify=false "docker://$BIG" "dir:$SKOPEO_DIR"; }
skopeo_ready() { echo "(no rootfs: dir: holds the compressed blobs)"; }
skopeo_push_prep() { :; }
skopeo_push() { skopeo copy -q --dest-tls-verify=false "dir:$SKOPEO_DIR" "docker://$1"; }

# ---- set-up --------------------------------------------------------------------------

note "building the image (5 × 20 MiB random, gzip -1)"
build_big "$BENCH_WORK/big-oci"
registry_up src
registry_up push
BIG=${REG_ADDR[src]}/bench/big:latest
skopeo copy -q --dest-tls-verify=false "oci:$BENCH_WORK/big-oci:latest" "docker://$BIG"
BIG_BYTES=$(du -cb "$BENCH_WORK"/big-oci/blobs/sha256/* | awk 'END { print $1 }')
note "image $BIG: $BIG_BYTES bytes of blobs, $(pushed_layers "$BIG") layers"
PUSH_REF=${REG_ADDR[push]}/bench/pushed:latest

versions="Berth $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' ':!docs' 2>/dev/null || echo '+work in progress')"
UP=()
for e in $ENGINES; do
  case $e in
  berth) berthd_start "${BERTHD_ARGS[@]}" && UP+=(berth) ;;
  docker)
    if docker_up; then
      UP+=(docker)
      versions+=", Docker $(dk version --format '{{.Server.Version}}') (client $(dk version --format '{{.Client.Version}}'))"
    else PULL_ROWS+=("| docker | not installed | | |"); fi
    ;;
  podman)
    if podman_up; then
      UP+=(podman)
      versions+=", Podman $(pm version --format '{{.Client.Version}}')"
    else PULL_ROWS+=("| podman | not installed | | |"); fi
    ;;
  skopeo) UP+=(skopeo) versions+=", skopeo $(skopeo --version | awk '{ print $3 }')" ;;
  *) note "unknown engine $e" ;;
  esac
done
BERTH_PUSH=0
if [[ " ${UP[*]} " == *" berth "* ]]; then
  if berth push --help 2>/dev/null | grep -q 'berth push'; then BERTH_PUSH=1; else note "berth: no push command in this build; push not measured"; fi
fi

# ---- pull: rounds interleave the engines ---------------------------------------------

declare -A PULLS PUSHES
for r in $(seq "$ROUNDS"); do
  line="pull round $r:"
  for e in "${UP[@]}"; do
    "${e}_clean"
    t=$(time_ns "${e}_pull")
    PULLS[$e]+="$t "
    line+=" $e $(secs "$t") s"
  done
  note "$line"
done

# Ready to run, and re-pulls with every layer present.
for e in "${UP[@]}"; do
  out=$("${e}_ready" 2>&1 | tr '\n' ' ') || true
  note "$e: run of the pulled image: $out"
  [ "$e" = skopeo ] || [ "$out" = "104857600 " ] || { note "$e: the pulled image did not run as expected"; exit 1; }
  case $e in
  berth) cmd="$BERTH_CLI pull -q $BIG" ;;
  docker) cmd="$DOCKER_CLI pull -q $BIG" ;;
  podman) cmd="$PODMAN_CLI pull -q --tls-verify=false $BIG" ;;
  skopeo) continue ;;
  esac
  b=$(registry_requests src)
  hyperfine -N -w 3 -r "$REPULLS" --export-json "$BENCH_WORK/repull-$e.json" "$cmd" >&2
  a=$(registry_requests src)
  REPULL_ROWS+=("| $e | $(ms "$(hf_median "$BENCH_WORK/repull-$e.json")") ms | $(ms "$(jq -r '.results[0].min' "$BENCH_WORK/repull-$e.json")") ms | $(awk -v n=$((a - b)) -v r=$((REPULLS + 3)) 'BEGIN { printf "%.1g", n / r }') |")
done

# ---- push: a registry on empty storage before every push ------------------------------

for r in $(seq "$ROUNDS"); do
  line="push round $r:"
  for e in "${UP[@]}"; do
    [ "$e" = berth ] && [ "$BERTH_PUSH" = 0 ] && continue
    registry_up push
    "${e}_push_prep" "$PUSH_REF"
    t=$(time_ns "${e}_push" "$PUSH_REF")
    n=$(pushed_layers "$PUSH_REF")
    [ "$n" = 5 ] || { note "$e push: the registry holds a manifest with $n layers, not 5"; exit 1; }
    n=$(du -sb "$BENCH_WORK/reg-push/data" | cut -f1)
    [ "$n" -ge "$BIG_BYTES" ] || { note "$e push: the registry stores $n bytes, less than the image's $BIG_BYTES"; exit 1; }
    PUSHES[$e]+="$t "
    line+=" $e $(secs "$t") s"
  done
  note "$line"
done

for e in "${UP[@]}"; do
  read -r -a v <<<"${PULLS[$e]}"
  label=$e
  case $e in
  berth) label='**`berth pull`** (fresh data root)' ;;
  docker) label='`docker pull` (after `rmi` + `image prune -a`)' ;;
  podman) label='`podman pull` (after `rmi -a`)' ;;
  skopeo) label='`skopeo copy docker:// dir:` (no unpack)' ;;
  esac
  PULL_ROWS+=("| $label | **$(secs "$(median "${v[@]}")") s** | $(secs "$(printf '%s\n' "${v[@]}" | sort -g | head -1)") s | $(for x in "${v[@]}"; do printf '%s ' "$(secs "$x")"; done)|")
  if [ -n "${PUSHES[$e]:-}" ]; then
    read -r -a v <<<"${PUSHES[$e]}"
    PUSH_ROWS+=("| $e | **$(secs "$(median "${v[@]}")") s** | $(secs "$(printf '%s\n' "${v[@]}" | sort -g | head -1)") s | $(for x in "${v[@]}"; do printf '%s ' "$(secs "$x")"; done)|")
  elif [ "$e" = berth ]; then
    PUSH_ROWS+=("| berth | no \`berth push\` in this build | | |")
  fi
done

mkdir -p bench/results
out=bench/results/pullpush-$(date -u +%Y%m%d-%H%M%S).md
{
  echo "### Pull and push of $BIG_BYTES bytes in 5 layers, loopback docker-registry, $(host_facts), $ROUNDS rounds"
  echo
  echo "$versions."
  echo
  echo "| pull from a clean state | median | min | runs |"
  echo "|---|---|---|---|"
  printf '%s\n' "${PULL_ROWS[@]}"
  echo
  echo "| re-pull, all layers present (hyperfine -N, $REPULLS runs) | median | min | registry requests per pull |"
  echo "|---|---|---|---|"
  printf '%s\n' "${REPULL_ROWS[@]}"
  echo
  echo "| push to an empty registry | median | min | runs |"
  echo "|---|---|---|---|"
  printf '%s\n' "${PUSH_ROWS[@]}"
} | tee "$out"
echo "wrote $out"
