#!/usr/bin/env bash
# Installs what the real-VS-Code test needs, outside the clone, and reuses it
# when present: Debian's Chromium, ripgrep and libkrb5-dev (apt), and
# code-server under $CODEGENIE_TOOLS/code-server (npm).
#
# Idempotent and serialised with a lock, so tests/run can start it in the
# background before the Rust build and the VS Code step simply calls it again:
# the second call waits for the first and then finds everything in place.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
tools=${CODEGENIE_TOOLS:-/var/tmp/codegenie-tools}
prefix="$tools/code-server"
mkdir -p "$tools"

exec 9>"$tools/vscode-tools.lock"
flock 9

have_code_server() {
  [ -x "$prefix/node_modules/.bin/code-server" ] &&
    [ "$(cat "$prefix/.installed" 2>/dev/null)" = "$CODE_SERVER_VERSION" ]
}

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "apt: installing ${missing[*]}"
  if [ ! -e "$tools/.apt-updated" ]; then
    apt-get -o DPkg::Lock::Timeout=900 update -qq && touch "$tools/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_code_server() {
  have_code_server && return 0
  echo "npm: installing code-server@$CODE_SERVER_VERSION under $prefix"
  # @vscode/ripgrep's postinstall downloads a binary; seed its cache with
  # Debian's rg so the download is never needed.
  local tmp seed
  tmp=${TMPDIR:-/tmp}
  seed="$tmp/vscode-ripgrep-cache-1.15.11"
  if [ ! -s "$seed/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
    mkdir -p "$seed/stage"
    cp "$(command -v rg)" "$seed/stage/rg"
    tar -czf "$seed/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$seed/stage" rg
    rm -rf "$seed/stage"
  fi
  mkdir -p "$prefix"
  [ -f "$prefix/package.json" ] || echo '{"private": true}' >"$prefix/package.json"
  npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr \
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "code-server@$CODE_SERVER_VERSION"
  echo "$CODE_SERVER_VERSION" >"$prefix/.installed"
}

start=$SECONDS
# ripgrep and the Kerberos headers are needed by the code-server install;
# Chromium is not, so it installs alongside it.
apt_install ripgrep libkrb5-dev
if ! have_code_server; then
  install_code_server &
  cs=$!
  apt_install chromium
  wait "$cs"
else
  apt_install chromium
fi
echo "VS Code test tools ready in $((SECONDS - start))s"
