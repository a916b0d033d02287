#!/usr/bin/env bash
# make dashboard-screenshot: docs/img/dashboard.png, the Grafana dashboard of the chart drawn from
# real metrics of `make demo`. Grafana itself is not used (nor built): while scripts/demo.sh runs,
# /metrics is scraped every second into .cache/dashboard/scrapes/<unix ms>.prom; tools/monitoring
# loads the scrapes into a Prometheus TSDB (as a scrape would store them), evaluates every panel's
# expressions with the PromQL engine of the pinned Prometheus module and writes a static HTML page
# laid out like the dashboard (gridPos); headless Chromium (Debian's `chromium` package, needed for
# this step only: `apt-get install -y chromium`) takes the PNG.
#
# Usage: scripts/dashboard-screenshot.sh            (runs the demo)
#        SCRAPES=DIR scripts/dashboard-screenshot.sh (renders scrapes collected before)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/.cache/dashboard
DASHBOARD=$ROOT/charts/trackvia-operator/files/dashboards/trackvia-operator.json
PNG=${PNG:-$ROOT/docs/img/dashboard.png}
ADMIN=127.0.0.1:18080 # scripts/demo.sh's --admin-addr
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || { echo "headless Chromium is needed: apt-get install -y chromium" >&2; exit 1; }

scripts/build-tools.sh monitoring
mkdir -p "$OUT"
if [ -z "${SCRAPES:-}" ]; then
  SCRAPES=$OUT/scrapes
  rm -rf "$SCRAPES"
  mkdir -p "$SCRAPES"
  scripts/demo.sh >"$OUT/demo.log" 2>&1 &
  demo=$!
  echo "make demo running (log: $OUT/demo.log); scraping http://$ADMIN/metrics every second"
  while kill -0 "$demo" 2>/dev/null; do
    ms=$(date +%s%3N)
    curl -fsS --max-time 1 "http://$ADMIN/metrics" -o "$SCRAPES/$ms.prom.part" 2>/dev/null &&
      mv "$SCRAPES/$ms.prom.part" "$SCRAPES/$ms.prom" || rm -f "$SCRAPES/$ms.prom.part"
    sleep 1
  done
  wait "$demo" || { echo "make demo failed: see $OUT/demo.log" >&2; exit 1; }
  echo "$(ls "$SCRAPES" | wc -l) scrapes"
fi
"$ROOT/.cache/bin/monitoring" render "$SCRAPES" "$DASHBOARD" "$OUT/dashboard.html"
mkdir -p "$(dirname "$PNG")"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size=1600,1830 --screenshot="$PNG" "file://$OUT/dashboard.html" 2>/dev/null
echo "wrote $PNG (from $OUT/dashboard.html)"
