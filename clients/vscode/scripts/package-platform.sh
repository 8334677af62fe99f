#!/usr/bin/env bash
# Packages the extension for one platform with the `codegenie` server inside,
# at server/<platform>-<arch>/codegenie, where the extension looks for it when
# `codegenie.server.path` is empty. The generic .vsix (`npm run package`)
# holds no binary.
#
#   bash scripts/package-platform.sh [--target TARGET] [--out FILE] [PATH-TO-CODEGENIE]
#
# TARGET    a vsce target: linux-x64, linux-arm64, alpine-x64, darwin-arm64,
#           win32-x64, …; default: this machine's. The binary must be built for it.
# FILE      default: codegenie-TARGET-VERSION.vsix in the extension folder.
# PATH-TO-CODEGENIE
#           default: $CARGO_TARGET_DIR/release/codegenie (CARGO_TARGET_DIR
#           defaults to target/ at the repository root).
#
# The binary is staged in server/ (ignored by git), which must not exist
# beforehand and is removed afterwards.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(cd "$here/../.." && pwd)

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
target="" out="" bin=""
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=${2:?--target needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "package-platform: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) bin=$1; shift ;;
  esac
done

host=$(node -p 'process.platform + "-" + process.arch')
target=${target:-$host}
# The folder is named after Node's `process.platform`-`process.arch`, which is
# what the extension looks up at run time (Alpine is `linux` there).
case $target in
  alpine-*) dir="linux-${target#alpine-}" ;;
  win32-* | linux-* | darwin-*) dir=$target ;;
  *) echo "package-platform: no server build for target $target" >&2; exit 2 ;;
esac
exe=codegenie
case $target in win32-*) exe=codegenie.exe ;; esac

bin=${bin:-${CARGO_TARGET_DIR:-$root/target}/release/$exe}
if [ ! -f "$bin" ]; then
  echo "package-platform: no server binary at $bin; build it (cargo build --release -p codegenie) or pass its path" >&2
  exit 1
fi
# A binary for this machine must be the CodeGenie server.
if [ "$dir" = "$host" ] && ! "$bin" --version | grep -q '^codegenie '; then
  echo "package-platform: $bin --version does not print \`codegenie X.Y.Z\`" >&2
  exit 1
fi

version=$(node -p 'require(process.argv[1]).version' "$here/package.json")
out=${out:-$here/codegenie-$target-$version.vsix}
case $out in /*) ;; *) out="$PWD/$out" ;; esac

staging="$here/server"
if [ -e "$staging" ]; then
  echo "package-platform: $staging exists; remove it first (this script stages the binary there)" >&2
  exit 1
fi
ignore=$(mktemp)
trap 'rm -rf "$staging" "$ignore"' EXIT
mkdir -p "$staging/$dir"
cp "$bin" "$staging/$dir/$exe"
chmod 755 "$staging/$dir/$exe"
# The usual .vscodeignore, plus this one binary.
{ cat "$here/.vscodeignore"; printf '!server/%s/%s\n' "$dir" "$exe"; } >"$ignore"

cd "$here"
npx @vscode/vsce package --no-dependencies --target "$target" --ignoreFile "$ignore" --out "$out"
