#!/usr/bin/env bash
# Installs what diag needs on Debian 12 (run as root) and builds it: Node.js when there is none
# that diag runs on, the Debian packages, the npm packages, the libbpf addon, the BPF objects and
# the TypeScript; then puts `diag` on PATH with its man pages and shell completion (scripts/install.sh).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: clang/llvm (BPF objects), libbpf-dev libelf-dev zlib1g-dev (the addon), make g++ python3
# (node-gyp). Run: linux-perf (perf backend), bpftool. Tests and bench: bpftrace (a peer to compare
# with), qemu-system-x86 seabios busybox-static cpio (the kernel lab), prometheus (promtool checks
# the runbooks' metrics) prometheus-node-exporter (its textfile collector reads them in a host test;
# the package's own service is switched off below when setup installs it) libxml2-utils (xmllint
# checks their JUnit reports). man-db: `man diag-syscount`.
# openssh-client, openssh-server: `diag fleet` connects with ssh, and its host test starts its own
# sshd on 127.0.0.1 (the package's own ssh service is switched off below when setup installs it).
# sudo: `diag fleet --become` runs diag through sudo -n; that host test logs in as a throwaway user
# whose sudoers rule allows diag's launcher alone.
# chromium, fonts-liberation: test/browser loads the flame graphs (--svg) in it, headless, through
# puppeteer-core, and screenshots them (the fonts are only recommended, and setup installs no recommends).
PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config make g++ python3
  linux-perf bpftool bpftrace qemu-system-x86 seabios busybox-static cpio prometheus prometheus-node-exporter libxml2-utils man-db
  openssh-client openssh-server sudo chromium fonts-liberation)

# Does `node` satisfy package.json's engines ("^18.20.4 || >=20.19.0": each part ^X.Y.Z or >=X.Y.Z)?
node_fits() {
  command -v node >/dev/null && command -v npm >/dev/null && node -e '
    const range = require("./package.json").engines.node
    const v = (s) => s.split(".").map(Number)
    const cmp = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
    const have = v(process.versions.node)
    const fits = range.split("||").map((s) => s.trim()).some((part) => {
      const want = v(part.replace(/^(\^|>=)/, ""))
      return cmp(have, want) >= 0 && (!part.startsWith("^") || have[0] === want[0])
    })
    process.exit(fits ? 0 : 1)'
}

# Debian 12 ships Node.js 18.20 (nodejs, npm), which diag and its tests run on; libnode-dev has the
# headers node-gyp builds the addon against (so it downloads nothing from nodejs.org).
NODE_PACKAGES=()
node_fits || NODE_PACKAGES=(nodejs npm libnode-dev)

missing=()
for package in "${PACKAGES[@]}" "${NODE_PACKAGES[@]}"; do
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
  # Installing openssh-server starts a system sshd on port 22: diag's tests need none, so it goes.
  if [[ " ${missing[*]} " == *" openssh-server "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now ssh.service >/dev/null 2>&1 || true
  fi
  # Likewise node_exporter on port 9100: the test runs its own, on a free port of 127.0.0.1.
  if [[ " ${missing[*]} " == *" prometheus-node-exporter "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus-node-exporter.service >/dev/null 2>&1 || true
  fi
fi
if ! node_fits; then
  echo "setup: node $(node --version 2>/dev/null || echo 'is missing') does not satisfy diag's engines ($(sed -n 's/.*"node": "\(.*\)".*/\1/p' package.json | head -1));" \
    "remove it, or put Debian's /usr/bin/node first on PATH, and run setup again" >&2
  exit 1
fi

# node-gyp builds against the installed headers of this node when they are there (Debian's
# libnode-dev, NodeSource's nodejs) rather than downloading them.
headers_major=$(sed -n 's/^#define NODE_MAJOR_VERSION \([0-9]*\).*/\1/p' /usr/include/node/node_version.h 2>/dev/null || true)
if [ -z "${npm_config_nodedir:-}" ] && [ "$headers_major" = "$(node -p 'process.versions.node.split(".")[0]')" ]; then
  export npm_config_nodedir=/usr
fi

# The lab's debian-6.1 kernel (../shared/kernels) has its network driver as modules that the lab's
# folder lacks: the fleet lab test takes virtio_net and what it needs from that kernel's own
# Debian package, fetched once into /var/cache/diag-lab/net-modules (as root, where the lab is).
LAB_CLOUD_KERNEL=../shared/kernels/debian-6.1-cloud
LAB_NET_MODULES=/var/cache/diag-lab/net-modules
LAB_CLOUD_PACKAGE=linux-image-6.1.0-50-cloud-amd64-unsigned=6.1.176-1
if [ "$(id -u)" = 0 ] && [ -d "$LAB_CLOUD_KERNEL/modules" ] && [ ! -e "$LAB_CLOUD_KERNEL/modules/virtio_net.ko" ] && [ ! -e "$LAB_NET_MODULES/virtio_net.ko" ]; then
  echo "setup: fetching the lab's debian-6.1 network modules ($LAB_CLOUD_PACKAGE)"
  fetch=$(mktemp -d)
  if (cd "$fetch" && apt-get download -q "$LAB_CLOUD_PACKAGE" && dpkg-deb -x ./*.deb unpacked); then
    mkdir -p "$LAB_NET_MODULES"
    for module in failover net_failover virtio_net; do
      find "$fetch/unpacked/lib/modules" -name "$module.ko" -exec cp {} "$LAB_NET_MODULES/" \;
    done
  else
    echo "setup: could not fetch $LAB_CLOUD_PACKAGE: the fleet lab test will leave debian-6.1 out, saying why" >&2
  fi
  rm -rf "$fetch"
fi

npm ci --no-audit --no-fund
npm run build
if [ "$(id -u)" = 0 ] || [ -n "${DIAG_PREFIX:-}" ]; then
  ./scripts/install.sh
else
  echo "setup: diag is built; to put it on PATH: sudo ./scripts/install.sh (or DIAG_PREFIX=~/.local ./scripts/install.sh)"
fi
