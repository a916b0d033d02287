#!/usr/bin/env bash
# cargo deny over the whole workspace (deny.toml): licences, bans (duplicate crates, wildcards)
# and sources always; RustSec advisories when a local clone of the advisory database exists.
#
# cargo-deny is installed pinned into .cache/cargo-tools (from crates.io; ~2.5 min on 2 cores,
# once). The advisory database lives on GitHub, which the machines that run `make test` cannot
# reach, so it is never fetched here: TVO_ADVISORY_DB names a clone of
# https://github.com/rustsec/advisory-db (default .cache/advisory-db; make one with
# `git clone --depth 1 https://github.com/rustsec/advisory-db .cache/advisory-db`, refresh with
# `git -C .cache/advisory-db pull`). Without one, the advisories check is skipped and says so.
#
# Usage: scripts/cargo-deny.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DENY_VERSION=0.20.2
TOOLS=$ROOT/.cache/cargo-tools
DENY=$TOOLS/bin/cargo-deny
ADVISORY_DB=${TVO_ADVISORY_DB:-$ROOT/.cache/advisory-db}
# The directory name cargo-deny 0.20 gives the default database URL
# (https://github.com/rustsec/advisory-db) under its db-path: name + xxhash64 of the URL.
ADVISORY_DIR_NAME=advisory-db-3157b0e258782691

log() { printf '[cargo-deny] %s\n' "$*"; }

if [ "$("$DENY" --version 2>/dev/null)" != "cargo-deny $DENY_VERSION" ]; then
  log "installing cargo-deny $DENY_VERSION into $TOOLS (once; a few minutes)"
  start=$(date +%s)
  # One job at a time beside whatever else runs on two cores.
  cargo install --locked --quiet cargo-deny --version "$DENY_VERSION" --root "$TOOLS" -j 2
  log "installed in $(($(date +%s) - start)) s"
fi

# Licences, bans and sources: crates.io data only, always checked, failing on any violation.
"$DENY" --workspace --locked check --show-stats licenses bans sources

if [ -d "$ADVISORY_DB/.git" ] && [ -d "$ADVISORY_DB/crates" ]; then
  # cargo-deny looks for the database at <db-path>/<name-hash>; point that at the clone.
  root=$ROOT/target/cargo-deny/advisory-dbs
  mkdir -p "$root"
  ln -sfn "$(cd "$ADVISORY_DB" && pwd)" "$root/$ADVISORY_DIR_NAME"
  head_date=$(git -C "$ADVISORY_DB" log -1 --format=%cI)
  age_days=$((($(date +%s) - $(git -C "$ADVISORY_DB" log -1 --format=%ct)) / 86400))
  log "advisories: RustSec database at $ADVISORY_DB, newest advisory commit $head_date ($age_days days old)"
  # --offline: open the clone as it is, never fetch (cargo-deny refuses a clone not fetched for
  # 90 days: maximum-db-staleness in deny.toml).
  TVO_ADVISORY_DB_ROOT=$root "$DENY" --workspace --locked --offline check --show-stats advisories
else
  log "advisories: NOT CHECKED: no RustSec advisory database at $ADVISORY_DB (it is on GitHub, which this machine cannot reach; set TVO_ADVISORY_DB to a clone of https://github.com/rustsec/advisory-db, see docs/security.md)"
fi
