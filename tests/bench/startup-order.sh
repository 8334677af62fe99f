#!/usr/bin/env bash
# Writes server/link/startup.order: the functions the release server runs
# from exec to an idle server after `initialize` (read with valgrind's
# callgrind), which the linker then puts first and together (see
# server/build.rs). Run it after a toolchain or dependency update, after
# code changes (generic instances' and closures' names change with the code
# around them), or when `codegenie serve` starts doing different work; it
# prints how many of the listed functions the binary it measured has.
#
#   bash tests/bench/startup-order.sh        # needs valgrind and python3
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/codegenie-target}
command -v valgrind >/dev/null || { echo "startup-order: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo build --release --locked -p codegenie --bin codegenie
bin=$CARGO_TARGET_DIR/release/codegenie
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
order=server/link/startup.order
listed=$( [[ -f $order ]] && wc -l <"$order" || echo 0)
nm "$bin" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$work/symbols"
if [[ -f $order ]]; then
  echo "startup-order: the binary has $(sort -u "$order" | comm -12 - "$work/symbols" | wc -l) of the $listed functions listed now"
fi
python3 - "$bin" "$work" <<'PY'
# Several editors' ways to start: their functions all count.
import json, os, subprocess, sys, time
binary, work = sys.argv[1], sys.argv[2]
root = f"file://{work}/ws"
starts = [
    {"capabilities": {}},
    {"capabilities": {"window": {"workDoneProgress": True}},
     "initializationOptions": {"client": {"explanationNotification": True}}},
    {"processId": os.getpid(), "clientInfo": {"name": "editor", "version": "1"}, "rootUri": root,
     "workspaceFolders": [{"uri": root, "name": "ws"}], "trace": "off",
     "initializationOptions": {"client": {"explanationNotification": True}},
     "capabilities": {"general": {"positionEncodings": ["utf-8", "utf-16"]},
                      "window": {"workDoneProgress": True, "showMessage": {}, "showDocument": {"support": True}},
                      "workspace": {"configuration": True, "workspaceFolders": True},
                      "textDocument": {"codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": [""]}}}}}},
]
for n, params in enumerate(starts):
    env = dict(os.environ, HOME=work, CODEGENIE_DATA_DIR=f"{work}/data", CODEGENIE_LOG="error")
    out = f"--callgrind-out-file={work}/callgrind.{n}.out"
    cmd = ["valgrind", "--tool=callgrind", "--demangle=no", out, binary, "serve"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    def send(message):
        body = json.dumps(message).encode()
        p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        p.stdin.flush()
    def receive():
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            byte = p.stdout.read(1)
            if not byte:
                sys.exit("startup-order: the server ended before it answered")
            header += byte
        return json.loads(p.stdout.read(int(header.split(b":")[1].split(b"\r")[0])))
    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
    receive()
    send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    time.sleep(3)
    send({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
    receive()
    send({"jsonrpc": "2.0", "method": "exit"})
    p.wait(timeout=60)
PY
cat "$work"/callgrind.*.out | grep -oE '^c?fn=\([0-9]+\) .+' | sed -E 's/^c?fn=\([0-9]+\) //' | sort -u >"$work/ran"
comm -12 "$work/ran" "$work/symbols" >"$order"
echo "startup-order: $(wc -l <"$order") functions written to $order; build again to use them"
