#!/usr/bin/env bash
# Runs every benchmark in turn (`make bench`): run --rm latency (run.sh), 20 idle
# containers' start time and memory (containers.sh), 200 MB of logs (logs.sh), pull and
# push of a 106 MB image through a loopback registry (pullpush.sh), HTTP through published
# ports, network create/rm and the bridge's cost per run (network.sh). Each
# writes its table to bench/results/; Docker and Podman rows appear when installed.
set -euo pipefail
cd "$(dirname "$0")"
./run.sh
./containers.sh
./logs.sh
./pullpush.sh
./network.sh
./build.sh
