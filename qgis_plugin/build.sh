#!/usr/bin/env bash
# Build the release library and make the installable QGIS plugin zip:
#   qgis_plugin/build.sh [--no-cargo]   →  target/fringewatch-qgis-plugin-VERSION.zip
# The zip holds fringewatch/ (Python, styles, metadata.txt, LICENSE, README.md), fringewatch/lib/ (the native
# library) and fringewatch/models/ (the bundled default model). Install it in QGIS with
# Plugins ▸ Manage and Install Plugins ▸ Install from ZIP. --no-cargo packs the library already
# in target/release (the tests use it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" != "--no-cargo" ]; then
  cargo build --release --lib --no-default-features --manifest-path "$root/Cargo.toml"
fi
case "$(uname -s)" in
  Darwin) lib=libfringewatch.dylib ;;
  MINGW*|MSYS*|CYGWIN*) lib=fringewatch.dll ;;
  *) lib=libfringewatch.so ;;
esac
[ -f "$root/target/release/$lib" ] || { echo "target/release/$lib missing: run without --no-cargo" >&2; exit 1; }
version="$(sed -n 's/^version=//p' "$root/qgis_plugin/fringewatch/metadata.txt")"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/fringewatch/lib" "$stage/fringewatch/models"
# -L: native.py is a link to the one binding in python/fringewatch/; the zip gets the file
(cd "$root/qgis_plugin/fringewatch" && find -L . -name '__pycache__' -prune -o -type f -print | while read -r f; do
  mkdir -p "$stage/fringewatch/$(dirname "$f")"; cp "$f" "$stage/fringewatch/$f"; done)
cp "$root/target/release/$lib" "$stage/fringewatch/lib/"
# Debug symbols are not needed by users (32 MB → ~20 MB).
command -v strip >/dev/null && strip --strip-debug "$stage/fringewatch/lib/$lib" 2>/dev/null || true
cp "$root/models/fringewatch-default.onnx" "$stage/fringewatch/models/"
cp "$root/LICENSE" "$stage/fringewatch/"
# the algorithms' help links point into it
cp "$root/README.md" "$stage/fringewatch/"
out="$root/target/fringewatch-qgis-plugin-$version.zip"
rm -f "$out.partial"
(cd "$stage" && python3 -c "
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    for base, _, files in os.walk('fringewatch'):
        for f in sorted(files):
            z.write(os.path.join(base, f))
" "$out.partial")
mv "$out.partial" "$out"
echo "$out"
