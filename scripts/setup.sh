#!/usr/bin/env bash
# Installs what diag needs on Debian 12 (run as root) and builds it: the Debian packages, the npm
# packages, the libbpf addon, the BPF objects and the TypeScript. Safe to run again: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: clang/llvm (BPF objects), libbpf-dev libelf-dev zlib1g-dev (the addon), make g++ python3
# (node-gyp). Run: linux-perf (perf backend), bpftool. Tests and bench: bpftrace (a peer to compare
# with), qemu-system-x86 seabios busybox-static cpio (the kernel lab), prometheus (promtool checks
# the runbooks' metrics) libxml2-utils (xmllint checks their JUnit reports).
PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config make g++ python3
  linux-perf bpftool bpftrace qemu-system-x86 seabios busybox-static cpio prometheus libxml2-utils)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build
