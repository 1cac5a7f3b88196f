#!/usr/bin/env bash
# Installs, from Debian's packages only, whatever dbsafe needs to build, test and benchmark.
# Idempotent: a machine that already has everything runs no apt-get at all.
set -euo pipefail
packages=(cmake g++ make libsqlite3-dev sqlite3 libboost-dev libxxhash-dev nlohmann-json3-dev
          libcli11-dev libgtest-dev libbenchmark-dev libzstd-dev zstd libssl-dev
          clang libclang-rt-dev)  # clang + libFuzzer runtime: scripts/fuzz.sh
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
