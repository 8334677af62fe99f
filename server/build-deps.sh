#!/usr/bin/env bash
# The local engine is llama.cpp, compiled from C++ by cargo (the
# llama-cpp-sys-2 crate): building CodeGenie needs cmake, a C/C++ compiler
# and libclang (for bindgen). This installs them on Debian and Ubuntu when
# they are missing (as root, or with sudo); elsewhere it says what to
# install. Nothing is done when they are all there.
#
#   bash server/build-deps.sh && cargo build --release -p codegenie
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if ! command -v c++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
  missing+=(g++)
fi
have_libclang() {
  [ -n "${LIBCLANG_PATH:-}" ] && return 0
  ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null 2>&1
}
have_libclang || missing+=(libclang-dev)
command -v clang >/dev/null 2>&1 || missing+=(clang)

[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      echo "build-deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "build-deps: installing ${missing[*]} (for the llama.cpp engine)" >&2
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
cat >&2 <<MSG
build-deps: the local engine (llama.cpp) needs ${missing[*]} to build.
  Debian/Ubuntu: apt-get install cmake clang libclang-dev
  Fedora:        dnf install cmake clang clang-devel
  macOS:         xcode-select --install && brew install cmake llvm
Install them and run the command again.
MSG
exit 1
