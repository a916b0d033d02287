#!/usr/bin/env bash
# The secret scan: looks for every credential value in a ledger (one per line, written by the
# emulators when TVO_SECRET_LEDGER is set: seeded and minted TrackVia auth tokens and API keys,
# Workato API tokens, and every credential presented to them) in
#   - the given log files and directories (operator logs, the test runner's output), and
#   - the cluster named by KUBECONFIG, all namespaces: every Event, every object of our five kinds
#     (spec, status, conditions, annotations), and the metadata of every Secret (labels and
#     annotations; a Secret's data legitimately holds credentials and is never read into a file).
# Fixed-string search, for each value as it is and base64-encoded on its own (as a Secret's data
# would show it); values shorter than 8 characters are ignored (counted and reported), as the
# operator's scrubbing ignores them: they cannot be told apart from ordinary words. The emulators'
# own state and call log (which hold credentials by design) are not scanned.
# Prints what it scanned and the occurrences per source; exits 1 on any occurrence, 2 when the
# ledger is missing or empty (a scan for nothing proves nothing).
#
# Usage: scripts/secret-scan.sh LEDGER DUMP_DIR [FILE_OR_DIR ...]
#   DUMP_DIR receives the cluster dumps (events.json, <kind>.json, secret-metadata.json).
#   KUBECTL (default .cache/bin/kubectl) and KUBECONFIG name the cluster; without KUBECONFIG only
#   the files are scanned.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 LEDGER DUMP_DIR [FILE_OR_DIR ...]" >&2; exit 2; }
LEDGER=$1 DUMPS=$2
shift 2
KUBECTL=${KUBECTL:-$ROOT/.cache/bin/kubectl}
GROUP=integrations.trackvia-operator.dev
KINDS=(trackviaaccounts workatoworkspaces integrationaccounts workatoconnections credentialrotations)

mkdir -p "$DUMPS"
sources=("$@")
if [ -n "${KUBECONFIG:-}" ]; then
  "$KUBECTL" get events -A -o json >"$DUMPS/events.json"
  sources+=("$DUMPS/events.json")
  for kind in "${KINDS[@]}"; do
    if "$KUBECTL" get crd "$kind.$GROUP" >/dev/null 2>&1; then
      "$KUBECTL" get "$kind.$GROUP" -A -o json >"$DUMPS/$kind.json"
      sources+=("$DUMPS/$kind.json")
    else
      echo "[secret-scan] $kind: CRD not installed, no objects"
    fi
  done
  # Secrets without their data: only what the operator or a tool may have written around it. The
  # data is only looked at in memory, to count the ledger values the cluster really held (the
  # values the operator had in hand, and so could have leaked).
  "$KUBECTL" get secrets -A -o json | python3 -c '
import base64, json, sys
values = set()
try:
    values = {l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if len(l.strip()) >= 8}
except FileNotFoundError:
    pass
doc = json.load(sys.stdin)
held = set()
for item in doc.get("items", []):
    for v in (item.pop("data", None) or {}).values():
        text = base64.b64decode(v).decode("utf-8", "replace")
        held |= {x for x in values if x in text}
    item.pop("stringData", None)
json.dump(doc, sys.stdout, indent=1)
print(f"[secret-scan] {len(held)} of the ledger values were held in the cluster'"'"'s Secrets", file=sys.stderr)
' "$LEDGER" >"$DUMPS/secret-metadata.json"
  sources+=("$DUMPS/secret-metadata.json")
else
  echo "[secret-scan] KUBECONFIG is not set: scanning files only, no cluster objects"
fi

exec python3 - "$LEDGER" "$(cd "$DUMPS" && pwd)" "${sources[@]}" <<'EOF'
import base64, json, os, sys

ledger_path, dumps, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
MIN = 8
try:
    with open(ledger_path, encoding="utf-8") as f:
        values = {line.rstrip("\n") for line in f if line.strip()}
except FileNotFoundError:
    values = set()
short = {v for v in values if len(v) < MIN}
values = sorted(values - short, key=len, reverse=True)
print(f"[secret-scan] ledger {ledger_path}: {len(values)} values scanned for"
      f" ({len(short)} shorter than {MIN} characters ignored)")
if not values:
    print("[secret-scan] FAILED: the ledger is empty or missing; nothing was scanned for")
    sys.exit(2)

encoded = {v: base64.b64encode(v.encode()).decode() for v in values}

decoded = {b: v for v, b in encoded.items()}

def hint(value):  # enough to find the value in the ledger, without printing it whole
    if value in decoded:
        return f"base64 of {hint(decoded[value])}"
    return f"{value[:4]}...({len(value)} chars)"

ledger_real = os.path.realpath(ledger_path)
groups = {}  # label -> files; a cluster dump is a group of its own, other files go by directory
for src in sources:
    if os.path.isdir(src):
        files = sorted(os.path.join(d, n) for d, _, names in os.walk(src) for n in names)
        label = src
    elif os.path.isfile(src):
        files = [src]
        in_dumps = os.path.abspath(src).startswith(dumps + os.sep)
        label = src if in_dumps else os.path.dirname(src) + os.sep
    else:
        print(f"[secret-scan] {src}: absent")
        continue
    groups.setdefault(label, []).extend(f for f in files if os.path.realpath(f) != ledger_real)

total = nfiles = 0
for label, files in groups.items():
    size = count = objects = 0
    dump = os.path.abspath(label).startswith(dumps + os.sep)
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        size += len(text)
        if dump:
            objects += len(json.loads(text).get("items", []))
        found = {v: text.count(v) for v in values if v in text}
        if not path.endswith("secret-metadata.json"):
            # A value encoded on its own, as in a Secret's data (kubectl's last-applied annotation
            # legitimately holds those, so Secrets' metadata is searched for plain values only).
            for v, b in encoded.items():
                if b in text:
                    found[b] = text.count(b)
        count += sum(found.values())
        for value, n in found.items():
            line = next(l for l in text.splitlines() if value in l)
            for v in found:
                line = line.replace(v, f"<LEAKED {hint(v)}>")
            print(f"    {os.path.relpath(path)}: {n}x {hint(value)}: {line[:300]}")
    total += count
    nfiles += len(files)
    what = f"{objects} objects" if dump else f"{len(files)} files"
    print(f"[secret-scan] {os.path.relpath(label)}: {what}, {size} bytes, occurrences={count}")
print(f"[secret-scan] {nfiles} files scanned for {len(values)} values: occurrences={total}")
if total:
    print("[secret-scan] FAILED: credentials found above")
    sys.exit(1)
EOF
