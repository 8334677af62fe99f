#!/usr/bin/env bash
# Builds, checks and tests the VS Code extension, then runs it in a real
# VS Code (code-server in Debian's Chromium) against the real `codegenie`
# binary. Ends with `vscode: N passed, M failed` and a non-zero exit status on
# any failure.
#
#   bash clients/vscode/tests/run.sh
#
# Environment (all optional):
#   CARGO_TARGET_DIR      where the `codegenie` binary is built (default /var/tmp/codegenie-target)
#   CODEGENIE_TOOLS       cache of code-server and friends (default /var/tmp/codegenie-tools)
#   CODEGENIE_ARTIFACTS   screenshots and logs go to $CODEGENIE_ARTIFACTS/vscode (default <repo>/.test-artifacts)
#   CODEGENIE_E2E_ONLY    run only the end-to-end cases whose name contains this (A|B: A or B)
#   CODEGENIE_E2E=0       skip the real-VS-Code part
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/codegenie-target}
export CODEGENIE_TOOLS=${CODEGENIE_TOOLS:-/var/tmp/codegenie-tools}
artifacts=${CODEGENIE_ARTIFACTS:-$root/.test-artifacts}/vscode
mkdir -p "$artifacts"

source "$root/tests/lib/services.sh"

passed=0
failed=0
skipped=0
work=$(mktemp -d "${TMPDIR:-/tmp}/codegenie-vscode.XXXXXX")
cleanup() {
  services_stop
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf -- '-- vscode: %s\n' "$*"; }
timed() { local t=$SECONDS; "$@"; step "  ($((SECONDS - t))s)"; }
# One build check: counts as one test, and its failure stops the run.
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    finish
  fi
}
finish() {
  if [ "$skipped" -gt 0 ]; then
    echo "vscode: $passed passed, $failed failed, $skipped skipped"
  else
    echo "vscode: $passed passed, $failed failed"
  fi
  if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}

# Tools for the real VS Code; tests/run may already be installing them in the
# background, in which case this waits for it.
if [ "${CODEGENIE_E2E:-1}" != 0 ]; then
  step "tools (code-server, chromium)"
  timed bash "$here/tests/install-tools.sh"
fi

cd "$here"
step "npm ci"
# Skipped when node_modules was installed from this very lock file.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-sum 2>/dev/null)" != "$lock_sum" ]; then
  timed npm ci --no-audit --no-fund --prefer-offline --loglevel=error
  echo "$lock_sum" >node_modules/.lock-sum
fi

check "lint" npx eslint .
check "typecheck" npx tsc --noEmit -p .
check "bundle" node esbuild.mjs --production

step "unit tests"
node esbuild.mjs --tests
unit_tap="$work/unit.tap"
set +e
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$unit_tap" out/test/unit/
set -e
unit_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$unit_tap" | tail -1)
unit_fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$unit_tap" | tail -1)
passed=$((passed + ${unit_pass:-0}))
failed=$((failed + ${unit_fail:-1}))

rm -f ./*.vsix
check "package (.vsix)" npx @vscode/vsce package --no-dependencies --out "$work/codegenie.vsix"
# Whatever lies in server/, the generic package carries no binary.
no_server_inside() {
  local list
  list=$(unzip -Z1 "$1") || return 1
  ! grep '^extension/server/' <<<"$list"
}
check "the generic .vsix holds no server binary" no_server_inside "$work/codegenie.vsix"

bin="$CARGO_TARGET_DIR/debug/codegenie"
if [ ! -x "$bin" ]; then
  step "cargo build (codegenie)"
  (cd "$root" && cargo build -p codegenie --locked)
fi
"$bin" --version

# The platform package, with the debug binary bundled; the end-to-end test
# installs this one.
platform=$(node -p 'process.platform + "-" + process.arch')
platform_vsix="$work/codegenie-$platform.vsix"
check "package ($platform .vsix with the server)" timed bash scripts/package-platform.sh --target "$platform" --out "$platform_vsix" "$bin"
bundled_executable() {
  local entry="extension/server/$platform/codegenie" listing
  listing=$(zipinfo "$platform_vsix" "$entry") || { echo "$entry is not in $platform_vsix" >&2; return 1; }
  echo "$listing"
  [[ $listing == -rwx* ]] || { echo "$entry is not executable" >&2; return 1; }
}
check "the $platform .vsix holds an executable extension/server/$platform/codegenie" bundled_executable
[ "$failed" -eq 0 ] || finish
[ "${CODEGENIE_E2E:-1}" != 0 ] || finish

# ---------------------------------------------------------------- real VS Code

code_server="$CODEGENIE_TOOLS/code-server/node_modules/.bin/code-server"
mkdir -p "$work"/{user-data/User,extensions,xdg/config,xdg/data,xdg/cache,xdg/state,browser,codegenie-data,workspace}
printf '# print the numbers from 1 to 10\n' >"$work/workspace/hello.py"
printf '# count down from 10 to 1\n' >"$work/workspace/countdown.py"
printf 'def countdown():\n    # count down from ten\n    print("lift-off")\n' >"$work/workspace/liftoff.py"
printf 'def area(r):\n    return 3.14 * r * r\n\nnumbers = [1, 2, 3, 4, 5, 6, 7, 8, 9\n' >"$work/workspace/numbers.py"
cat >"$work/user-data/User/settings.json" <<JSON
{
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "window.restoreWindows": "none",
  "chat.commandCenter.enabled": false,
  "editor.autoClosingBrackets": "never",
  "editor.autoClosingQuotes": "never",
  "editor.autoIndent": "none",
  "codegenie.server.path": "$bin"
}
JSON
: >"$work/config.yaml"

cs_env=(
  "XDG_CONFIG_HOME=$work/xdg/config" "XDG_DATA_HOME=$work/xdg/data"
  "XDG_CACHE_HOME=$work/xdg/cache" "XDG_STATE_HOME=$work/xdg/state"
  "CODEGENIE_DATA_DIR=$work/codegenie-data" "CODEGENIE_CONFIG=$work/codegenie.toml"
)
cs_args=(--config "$work/config.yaml" --user-data-dir "$work/user-data" --extensions-dir "$work/extensions")

# No `codegenie` on code-server's PATH: with `codegenie.server.path` empty,
# only the bundled binary can be found.
cs_path=""
IFS=: read -ra path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
  [ -n "$d" ] && [ ! -x "$d/codegenie" ] && cs_path="${cs_path:+$cs_path:}$d"
done
cs_env+=("PATH=$cs_path")

step "install the $platform .vsix into code-server"
env "${cs_env[@]}" "$code_server" "${cs_args[@]}" --install-extension "$platform_vsix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; failed=$((failed + 1)); finish; }

# The test model server, when this build has one: generation and explanation
# then run against it, and cases slow its stream down through /_control/options.
answer=""
model_server_url=""
model_server="$CARGO_TARGET_DIR/debug/codegenie-model-server"
if [ -x "$model_server" ]; then
  mport=$(free_port)
  answer="print(list(range(1, 11)))"
  service_start "$model_server" --port "$mport" --answer "$answer" >"$artifacts/model-server.log" 2>&1
  wait_port "$mport" 30
  model_server_url="http://127.0.0.1:$mport"
  cs_env+=("CODEGENIE_HF_URL=http://127.0.0.1:$mport" "HF_TOKEN=e2e-token")
  # The built-in models run in-process by default; here the test model
  # server serves them as the hosted router would.
  for id in deepseek-coder phi-2 gemma stable-code replit-code; do
    printf '[models.%s]\napi = "hf-router"\n' "$id"
  done >"$work/codegenie.toml"
fi

# Inline completion runs on a local model: the real SmolLM2 when the suite
# fetched it (CODEGENIE_TEST_GGUF), as a model that completes from the text
# before the cursor. Off in the config file, so that no ghost text shows in
# the other cases; the inline case turns it on with the status bar switch.
completion=""
if [ -n "${CODEGENIE_TEST_GGUF:-}" ] && [ -f "$CODEGENIE_TEST_GGUF" ]; then
  completion=1
  printf '[completion]\nenabled = false\nmodel = "smol"\nmax_tokens = 16\n[models.smol]\npath = "%s"\nchat = false\n' \
    "$CODEGENIE_TEST_GGUF" >>"$work/codegenie.toml"
fi

port=$(free_port)
step "code-server on 127.0.0.1:$port"
service_start env "${cs_env[@]}" "$code_server" "${cs_args[@]}" \
  --bind-addr "127.0.0.1:$port" --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust --disable-getting-started-override "$work/workspace" \
  >"$artifacts/code-server.log" 2>&1
wait_port "$port" 120
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 1
done

models=$("$bin" models --json | node -e '
  const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const ids = m.models.map((x) => x.id).filter((id) => id !== m.default);
  console.log([m.default, ...ids].join(","));')

step "end-to-end in VS Code ($(cd "$here" && node -e 'console.log(require("playwright-core/package.json").version)') playwright-core, $(/usr/bin/chromium --version 2>/dev/null | head -1))"
node esbuild.mjs --e2e
t=$SECONDS
set +e
CODEGENIE_E2E_URL="http://127.0.0.1:$port" \
  CODEGENIE_E2E_WORKSPACE="$work/workspace" \
  CODEGENIE_E2E_PROFILE="$work/browser" \
  CODEGENIE_E2E_ARTIFACTS="$artifacts" \
  CODEGENIE_E2E_RESULT="$work/e2e.result" \
  CODEGENIE_E2E_MODELS="$models" \
  CODEGENIE_E2E_SETTINGS="$work/user-data/User/settings.json" \
  CODEGENIE_E2E_ANSWER="$answer" \
  CODEGENIE_E2E_MODEL_SERVER="$model_server_url" \
  CODEGENIE_E2E_LOGS="$work/user-data/logs" \
  CODEGENIE_E2E_BUNDLED="$platform" \
  CODEGENIE_E2E_COMPLETION="$completion" \
  node out/e2e/run.js
set -e
step "  ($((SECONDS - t))s)"
read -r e2e_pass e2e_fail e2e_skip <"$work/e2e.result" 2>/dev/null || { e2e_pass=0 e2e_fail=1 e2e_skip=0; }
passed=$((passed + e2e_pass))
failed=$((failed + e2e_fail))
skipped=$((skipped + e2e_skip))
# The extension host's own logs (the server's stderr is in the CodeGenie output channel).
find "$work/user-data/logs" -name '*CodeGenie*' -exec cp {} "$artifacts/" \; 2>/dev/null || true
# The e2e cases type a password and a token; neither may reach a log.
step "no secret in the logs"
if grep -rlE "hf_e2eSecretTokenValue123|correct horse battery" "$artifacts" "$work/user-data/logs" 2>/dev/null; then
  echo "a secret typed in the e2e test is in the logs above" >&2
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi
echo "screenshots and logs: $artifacts"
finish
