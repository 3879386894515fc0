#!/usr/bin/env bash
# Puts the built diag on PATH: `diag` (a symlink to bin/run.js), its man pages and its bash and zsh
# completion, as symlinks into this clone under PREFIX (default /usr/local, or $DIAG_PREFIX), so a
# rebuild updates them. scripts/setup.sh runs it; the README has the line that undoes it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-${DIAG_PREFIX:-/usr/local}}"

if [ ! -f "$root/dist/man/man1/diag.1" ] || [ ! -f "$root/dist/completion/diag.bash" ]; then
  echo "install: build diag first (npm run build)" >&2
  exit 1
fi
if ! mkdir -p "$prefix/bin" 2>/dev/null || [ ! -w "$prefix/bin" ]; then
  echo "install: cannot write to $prefix (run as root, or give another prefix: DIAG_PREFIX=~/.local $0)" >&2
  exit 1
fi

mkdir -p "$prefix/share/man/man1" "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions"
ln -sfn "$root/bin/run.js" "$prefix/bin/diag"
for page in "$root"/dist/man/man1/*.1; do ln -sfn "$page" "$prefix/share/man/man1/$(basename "$page")"; done
ln -sfn "$root/dist/completion/diag.bash" "$prefix/share/bash-completion/completions/diag"
ln -sfn "$root/dist/completion/_diag" "$prefix/share/zsh/site-functions/_diag"
# man finds the pages without it; mandb indexes them for apropos and whatis.
if command -v mandb >/dev/null; then mandb -q "$prefix/share/man" 2>/dev/null || true; fi
echo "install: diag -> $prefix/bin/diag; man pages in $prefix/share/man/man1; completion for bash and zsh"
