#!/usr/bin/env bash
# Builds the operator as a static binary (what the Dockerfile's build stage produces, here with
# glibc's static runtime since the musl target is not installable offline) and checks that it is
# static and runs as the image would: as a non-root user, from a read-only directory, without a shell.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$TARGET" --bin trackvia-operator
BIN=target/$TARGET/release/trackvia-operator
# A static executable needs no shared library (no NEEDED entry) and no program interpreter.
if readelf -d "$BIN" | grep -q NEEDED || readelf -l "$BIN" | grep -q 'program interpreter'; then
  echo "error: $BIN is dynamically linked:"; readelf -d "$BIN" | grep NEEDED; exit 1
fi
echo "static: $(file -b "$BIN" 2>/dev/null || echo 'no NEEDED entries, no interpreter')"
echo "size: $(du -h "$BIN" | cut -f1)"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp "$BIN" "$STAGE/trackvia-operator" && chmod 0555 "$STAGE/trackvia-operator" "$STAGE"
run_as_nobody() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=65532 --regid=65532 --clear-groups -- "$@"; else "$@"; fi; }
run_as_nobody env -i "$STAGE/trackvia-operator" --version
run_as_nobody env -i "$STAGE/trackvia-operator" crds | grep -c '^kind: CustomResourceDefinition' | grep -qx 5
echo "the static binary runs as uid 65532 with an empty environment and prints the 5 CRDs"
