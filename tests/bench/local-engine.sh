#!/usr/bin/env bash
# The local engine next to llama.cpp's own `llama-bench`, built from the
# llama.cpp source that the `llama-cpp-sys-2` crate vendors (so both run the
# same llama.cpp, compiled with the crate's CMake options), on the same model
# and the same number of threads. Prints one table: pp512 and tg128 tokens/s,
# time to the first token of a 512-token prompt against llama.cpp's time to
# evaluate 512 tokens, peak RSS, and the ratios, with the targets (≥ 95 % of
# llama.cpp's tokens/s; TTFT within 10 ms of its prompt time). Then the idle
# RSS of `codegenie serve` after an LSP `initialize`.
#
#   bash tests/bench/local-engine.sh [--reps N] [--baseline-bin PATH]
#
#   --baseline-bin PATH  also measure the idle RSS of another codegenie
#                        binary (one built before the engine existed)
#
# Variables: CODEGENIE_BENCH_GGUF (else CODEGENIE_TEST_GGUF; required),
# CODEGENIE_BENCH_THREADS (default: physical cores), CODEGENIE_BENCH_REPS
# (default 5), CARGO_TARGET_DIR (default /var/tmp/codegenie-target),
# CODEGENIE_TOOLS (default /var/tmp/codegenie-tools: llama-bench is built
# once into llama-bench-<crate version> there).
#
# The crate's package leaves llama.cpp's tools out, llama-bench.cpp with
# them: the script takes it from the vendored tree when it is there, else
# from LLAMA_BENCH_CPP (a path to tools/llama-bench/llama-bench.cpp of the
# llama.cpp commit the crate vendors), else from a copy left in the cache by
# an earlier run. Without any, only CodeGenie's side is measured.
#
# Slow the first time: `cargo bench` builds the release profile with thin
# LTO (mongodb alone is ~10 CPU-minutes), and llama-bench's build compiles
# llama.cpp once more (~5 minutes on 2 cores).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/codegenie-target}
tools=${CODEGENIE_TOOLS:-/var/tmp/codegenie-tools}
reps=${CODEGENIE_BENCH_REPS:-5}
baseline_bin=
while (($#)); do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --baseline-bin) baseline_bin=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

gguf=${CODEGENIE_BENCH_GGUF:-${CODEGENIE_TEST_GGUF:-}}
if [[ -z $gguf ]]; then
  echo "local-engine bench: SKIPPED: set CODEGENIE_BENCH_GGUF to a GGUF model file"
  exit 0
fi
# Physical cores, counted as the engine counts them (hyper-threads share a
# core's arithmetic units).
threads=${CODEGENIE_BENCH_THREADS:-$(python3 - <<'EOF'
import os
cores, phys = set(), ""
for line in open("/proc/cpuinfo"):
    key, _, value = line.partition(":")
    if key.strip() == "physical id": phys = value.strip()
    elif key.strip() == "core id": cores.add((phys, value.strip()))
print(min(len(cores), os.cpu_count()) if cores else os.cpu_count())
EOF
)}
export CODEGENIE_BENCH_GGUF=$gguf CODEGENIE_BENCH_THREADS=$threads CODEGENIE_BENCH_REPS=$reps
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

# ---- (a) llama-bench from the vendored llama.cpp --------------------------
read -r sys_version sys_dir < <(cargo metadata --format-version 1 --locked | python3 -c '
import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "llama-cpp-sys-2":
        print(p["version"], os.path.dirname(p["manifest_path"]))
        break
')
llama_src=$sys_dir/llama.cpp
bench_dir=$tools/llama-bench-$sys_version
llama_bench=$bench_dir/bin/llama-bench
if [[ ! -x $llama_bench ]]; then
  step "Building llama-bench from $llama_src"
  mkdir -p "$bench_dir/src"
  for candidate in "$llama_src/tools/llama-bench/llama-bench.cpp" "${LLAMA_BENCH_CPP:-}"; do
    if [[ -n $candidate && -f $candidate ]]; then cp "$candidate" "$bench_dir/src/llama-bench.cpp"; break; fi
  done
  if [[ -f $bench_dir/src/llama-bench.cpp ]]; then
    # Newer llama.cpp builds llama-bench into its one `llama` binary, and
    # llama-bench.cpp then defines llama_bench() instead of main().
    if grep -q '^int main(' "$bench_dir/src/llama-bench.cpp"; then
      main_src=
    else
      main_src=main.cpp
      printf 'int llama_bench(int argc, char ** argv);\nint main(int argc, char ** argv) { return llama_bench(argc, argv); }\n' \
        >"$bench_dir/src/main.cpp"
    fi
    cat >"$bench_dir/src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.14)
project(codegenie-llama-bench C CXX)
find_package(Threads REQUIRED)
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY "\${CMAKE_BINARY_DIR}/bin")
add_subdirectory("\${LLAMA_SRC}" llama.cpp)
add_executable(llama-bench llama-bench.cpp $main_src)
if (TARGET llama-common)
    target_link_libraries(llama-bench PRIVATE llama-common llama Threads::Threads)
else()
    target_link_libraries(llama-bench PRIVATE common llama Threads::Threads)
endif()
target_compile_features(llama-bench PRIVATE cxx_std_17)
EOF
    # The crate's options (llama-cpp-sys-2's build.rs: Release, no native
    # tuning, static, no OpenMP as our crate turns its feature off) and the
    # flags the cc crate gives it. Tools stay off: their sources are not in
    # the crate, llama-bench is built by the project above instead.
    flags="-ffunction-sections -fdata-sections -fPIC"
    [[ $(uname -m) == x86_64 ]] && flags="$flags -m64 -march=x86-64"
    cmake -S "$bench_dir/src" -B "$bench_dir/build" -DLLAMA_SRC="$llama_src" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
      -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF >"$bench_dir/configure.log"
    cmake --build "$bench_dir/build" --target llama-bench -j2 >"$bench_dir/build.log"
    mkdir -p "$bench_dir/bin"
    cp "$bench_dir/build/bin/llama-bench" "$llama_bench"
  else
    echo "llama-bench.cpp is not in $llama_src (the crate leaves the tools out) and LLAMA_BENCH_CPP is not set:" >&2
    echo "measuring CodeGenie's engine only" >&2
  fi
fi

# Peak RSS (KiB) from a `/usr/bin/time -v` report; empty without one.
peak_kib() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1" 2>/dev/null; }
timed() {
  local report=$1; shift
  if [[ -x /usr/bin/time ]]; then /usr/bin/time -v -o "$report" "$@"; else "$@"; fi
}

# ---- (b) llama-bench ----------------------------------------------------
echo '[]' >"$work/llama.json"
if [[ -x $llama_bench ]]; then
  step "llama-bench -m $gguf -t $threads -p 512 -n 128 -r $reps"
  timed "$work/llama.time" "$llama_bench" -m "$gguf" -t "$threads" -p 512 -n 128 -r "$reps" -o json >"$work/llama.json"
fi

# ---- (c) CodeGenie's engine --------------------------------------------
step "cargo bench -p codegenie --bench local_engine"
cargo bench -p codegenie --bench local_engine --no-run
bench_exe=$(cargo bench -p codegenie --bench local_engine --no-run --message-format json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "local_engine" and m.get("executable"):
        print(m["executable"])
')
# Run the built benchmark itself, so the peak RSS is its own, not cargo's.
timed "$work/ours.time" "$bench_exe" --bench --json >"$work/ours.json"

# ---- (e) idle RSS of the server -----------------------------------------
# Starts BIN serve, sends an LSP initialize over stdin, waits a second and
# prints VmRSS in KiB.
idle_rss() {
  python3 - "$1" <<'EOF'
import json, subprocess, sys, time
proc = subprocess.Popen([sys.argv[1], "serve"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
proc.stdin.flush()
time.sleep(1)
rss = next((l.split()[1] for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS:")), "")
proc.kill()
proc.wait()
print(rss)
EOF
}
server_bin=$CARGO_TARGET_DIR/release/codegenie
[[ -x $server_bin ]] || server_bin=$CARGO_TARGET_DIR/debug/codegenie
idle_kib= baseline_kib=
if [[ -x $server_bin ]]; then idle_kib=$(idle_rss "$server_bin"); fi
if [[ -n $baseline_bin ]]; then baseline_kib=$(idle_rss "$baseline_bin"); fi

# ---- (d) side by side ---------------------------------------------------
step "CodeGenie vs llama.cpp ($(basename "$gguf"), $threads threads, $reps runs)"
python3 - "$work" "$(peak_kib "$work/llama.time")" "$(peak_kib "$work/ours.time")" \
  "$server_bin" "$idle_kib" "$baseline_bin" "$baseline_kib" <<'EOF'
import json, sys
work, llama_peak, ours_peak, server_bin, idle, baseline_bin, baseline = sys.argv[1:]
ours = json.load(open(f"{work}/ours.json"))
llama = {("pp" if t["n_prompt"] else "tg"): t for t in json.load(open(f"{work}/llama.json"))}

def num(v):
    return float(v) if v not in ("", None) else None

rows = []
def row(name, our, their, unit, target=None, ratio=True):
    r = f"{our / their * 100:6.1f} %" if ratio and our is not None and their else ""
    fmt = lambda v: "—" if v is None else f"{v:,.1f}"
    rows.append(f"{name:<28}{fmt(our):>14}{fmt(their):>14}  {unit:<5}{r:>10}  {target or ''}")

pp = llama.get("pp", {}).get("avg_ts")
tg = llama.get("tg", {}).get("avg_ts")
row("pp512", ours["pp512"]["median_ts"], pp, "t/s", "target ≥ 95 %")
row("tg128", ours["tg128"]["median_ts"], tg, "t/s", "target ≥ 95 %")
ttft, prompt_ms = ours["ttft_ms"]["median"], (512 / pp * 1000 if pp else None)
diff = f"{ttft - prompt_ms:+.1f} ms" if prompt_ms else ""
row("TTFT / 512-token prompt", ttft, prompt_ms, "ms", f"target ≤ +10 ms ({diff})" if diff else "", ratio=False)
kib = lambda v: num(v) / 1024 if num(v) else None
row("peak RSS", kib(ours_peak), kib(llama_peak), "MiB")
row("model load", float(ours["load_ms"]), None, "ms")
row("RSS before loading", kib(ours["rss_before_load_kib"]), None, "MiB")
print(f"{'':<28}{'CodeGenie':>14}{'llama.cpp':>14}  {'':<5}{'ratio':>10}")
print("\n".join(rows))
print(f"prompt tokens per run: {sorted(set(ours['prompt_tokens']))}; context {ours['context']}; "
      f"llama.cpp medians are its means (llama-bench reports avg ± stddev)")
print(f"pp512 stddev: CodeGenie {ours['pp512']['stddev_ts']:.1f}, llama.cpp {llama.get('pp', {}).get('stddev_ts', 0):.1f}; "
      f"tg128 stddev: CodeGenie {ours['tg128']['stddev_ts']:.1f}, llama.cpp {llama.get('tg', {}).get('stddev_ts', 0):.1f}")
if idle:
    print(f"idle RSS after initialize: {server_bin}: {int(idle) / 1024:.1f} MiB")
if baseline:
    print(f"idle RSS after initialize: {baseline_bin}: {int(baseline) / 1024:.1f} MiB")
EOF
