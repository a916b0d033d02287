// monitoring checks the chart's alert rules and Grafana dashboard against a real scrape of the
// operator, and renders the dashboard from recorded scrapes, with the PromQL parser and engine of
// the same Prometheus module as the pinned promtool (scripts/build-tools.sh).
//
//	monitoring rules     SCRAPE RENDERED_CHART TESTS OUT_RULES
//	    extracts spec.groups of the chart's PrometheusRule (RENDERED_CHART: `helm template` output)
//	    into OUT_RULES for promtool, and checks that every input series of TESTS has the metric name
//	    and label names of a series in SCRAPE, that every metric and label a rule selects is in
//	    SCRAPE, and that every alert is expected to fire in at least one test.
//	monitoring dashboard SCRAPE DASHBOARD.json
//	    checks the dashboard's JSON: uid, title, schemaVersion, unique panel ids, sane gridPos, a
//	    datasource variable on every panel, targets whose expressions parse and select only
//	    metrics and labels in SCRAPE.
//	monitoring render    SCRAPES_DIR DASHBOARD.json OUT.html
//	    evaluates every panel's expressions over the scrapes in SCRAPES_DIR (files named
//	    <unix milliseconds>.prom) and writes a static HTML page laid out like the dashboard.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch args := os.Args[2:]; os.Args[1] {
	case "rules":
		if len(args) != 4 {
			usage()
		}
		err = checkRules(args[0], args[1], args[2], args[3])
	case "dashboard":
		if len(args) != 2 {
			usage()
		}
		err = checkDashboard(args[0], args[1])
	case "render":
		if len(args) != 3 {
			usage()
		}
		err = render(args[0], args[1], args[2])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitoring:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  monitoring rules SCRAPE RENDERED_CHART TESTS OUT_RULES
  monitoring dashboard SCRAPE DASHBOARD.json
  monitoring render SCRAPES_DIR DASHBOARD.json OUT.html`)
	os.Exit(2)
}
