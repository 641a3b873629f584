#!/usr/bin/env bash
# Installs the Debian packages that Berth and its tests need, only when missing.
set -euo pipefail
pkgs=(runc docker-registry skopeo debootstrap busybox-static hyperfine qemu-user-static apache2-utils ca-certificates jq curl make tini tmux docker.io iptables nftables iproute2 python3 python3-docker docker-compose util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "Go is required (/usr/local/go/bin/go)"; exit 1; }
