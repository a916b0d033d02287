#!/usr/bin/env bash
# The chart's alerts and dashboard against what the operator really exports (issue 15):
#   1. renders the chart with prometheusRule.enabled=true and writes its spec.groups to
#      target/alerts/rules.yaml (the template is the single source of the rules);
#   2. checks that every input series of charts/trackvia-operator/tests/alerts.test.yaml has the
#      metric name and label names of a series in a real scrape of the operator, that every metric
#      and label a rule selects or groups by is in the scrape, and that every alert fires in a test;
#   3. promtool check rules, promtool test rules;
#   4. checks the Grafana dashboard's JSON, its expressions against the same scrape.
# The scrape (target/metrics/scrape.prom) is written by the API-server test
# writes_a_real_scrape_for_the_alert_tests, so `make test` runs this after the cargo tests.
#
# Usage: scripts/check-alerts.sh [SCRAPE]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCRAPE=${1:-$ROOT/target/metrics/scrape.prom}
CHART=$ROOT/charts/trackvia-operator
OUT=$ROOT/target/alerts
BIN=$ROOT/.cache/bin

if [ ! -s "$SCRAPE" ]; then
  echo "check-alerts: no scrape at $SCRAPE. It is written by the API-server test" >&2
  echo "  writes_a_real_scrape_for_the_alert_tests: run the cargo tests first (make test does)." >&2
  exit 1
fi
scripts/build-tools.sh helm promtool monitoring

rm -rf "$OUT"
mkdir -p "$OUT"
"$BIN/helm" template t "$CHART" --kube-version 1.34.4 --set prometheusRule.enabled=true >"$OUT/chart.yaml"
# The test file names rules.yaml next to itself.
cp "$CHART/tests/alerts.test.yaml" "$OUT/alerts.test.yaml"
"$BIN/monitoring" rules "$SCRAPE" "$OUT/chart.yaml" "$OUT/alerts.test.yaml" "$OUT/rules.yaml"
"$BIN/promtool" check rules "$OUT/rules.yaml"
"$BIN/promtool" test rules "$OUT/alerts.test.yaml"
"$BIN/monitoring" dashboard "$SCRAPE" "$CHART/files/dashboards/trackvia-operator.json"
