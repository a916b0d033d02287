package main

import (
	"context"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

// The target labels Prometheus would add to the scraped series.
var renderTarget = labels.FromStrings("job", "trackvia-operator", "instance", "demo")

// render loads the scrapes into a TSDB as Prometheus would have stored them (target labels added,
// a stale marker for every series that disappears), evaluates each panel's expressions with the
// PromQL engine over the recorded time range, and writes the page.
func render(dir, dashboardPath, outPath string) error {
	d, err := readDashboard(dashboardPath)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.prom"))
	if err != nil || len(files) < 2 {
		return fmt.Errorf("%s: want at least two scrapes named <unix ms>.prom (found %d)", dir, len(files))
	}
	type scrape struct {
		ms   int64
		path string
	}
	var scrapes []scrape
	for _, f := range files {
		ms, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".prom"), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: not named <unix ms>.prom", f)
		}
		scrapes = append(scrapes, scrape{ms, f})
	}
	sort.Slice(scrapes, func(i, j int) bool { return scrapes[i].ms < scrapes[j].ms })

	tmp, err := os.MkdirTemp("", "monitoring-tsdb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	db, err := tsdb.Open(tmp, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	previous := map[string]labels.Labels{}
	for _, sc := range scrapes {
		samples, err := readScrape(sc.path)
		if err != nil {
			return err
		}
		app := db.Appender(ctx)
		seen := map[string]labels.Labels{}
		for _, smp := range samples {
			b := labels.NewBuilder(smp.labels)
			renderTarget.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
			l := b.Labels()
			seen[l.String()] = l
			if _, err := app.Append(0, l, sc.ms, smp.value); err != nil {
				return fmt.Errorf("%s: %v", sc.path, err)
			}
		}
		for k, l := range previous {
			if _, ok := seen[k]; !ok {
				if _, err := app.Append(0, l, sc.ms, math.Float64frombits(value.StaleNaN)); err != nil {
					return err
				}
			}
		}
		if err := app.Commit(); err != nil {
			return err
		}
		previous = seen
	}

	start, end := time.UnixMilli(scrapes[0].ms), time.UnixMilli(scrapes[len(scrapes)-1].ms)
	step := end.Sub(start) / 240
	if step < time.Second {
		step = time.Second
	}
	// Grafana's $__rate_interval: at least four scrape intervals.
	interval := (end.Sub(start) / time.Duration(len(scrapes)-1)).Round(time.Second)
	rateInterval := fmt.Sprintf("%ds", int(math.Max(4*interval.Seconds(), 4*step.Seconds())))
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})

	var page strings.Builder
	rows := 0
	for _, p := range d.Panels {
		rows = max(rows, p.GridPos.Y+p.GridPos.H)
	}
	fmt.Fprintf(&page, pageHead, html.EscapeString(d.Title), rows, html.EscapeString(d.Title),
		start.UTC().Format("2006-01-02 15:04:05"), end.UTC().Format("15:04:05 MST"), len(scrapes))
	for _, p := range d.Panels {
		body, err := renderPanel(ctx, engine, db, p, start, end, step, rateInterval)
		if err != nil {
			return fmt.Errorf("panel %q: %v", p.Title, err)
		}
		fmt.Fprintf(&page, `<div class="panel" style="grid-column:%d / span %d;grid-row:%d / span %d"><h2>%s</h2>%s</div>`+"\n",
			p.GridPos.X+1, p.GridPos.W, p.GridPos.Y+1, p.GridPos.H, html.EscapeString(p.Title), body)
	}
	page.WriteString("</div></body></html>\n")
	return os.WriteFile(outPath, []byte(page.String()), 0o644)
}

func unitOf(p panel) string {
	var fc struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	}
	_ = jsonUnmarshal(p.FieldConfig, &fc)
	return fc.Defaults.Unit
}

func renderPanel(ctx context.Context, ng *promql.Engine, db *tsdb.DB, p panel, start, end time.Time, step time.Duration, rateInterval string) (string, error) {
	unit := unitOf(p)
	instant := p.Type == "stat" || p.Type == "table"
	var rows []row
	var series []line
	for _, t := range p.Targets {
		expr := substitute(t.Expr, rateInterval)
		var q promql.Query
		var err error
		if instant {
			q, err = ng.NewInstantQuery(ctx, db, nil, expr, end)
		} else {
			q, err = ng.NewRangeQuery(ctx, db, nil, expr, start, end, step)
		}
		if err != nil {
			return "", err
		}
		res := q.Exec(ctx)
		if res.Err != nil {
			return "", res.Err
		}
		vec, _ := res.Vector()
		for _, s := range vec {
			rows = append(rows, row{t.RefID, s.Metric, s.F})
		}
		m, _ := res.Matrix()
		for _, s := range m {
			series = append(series, line{legend(t.LegendFormat, s.Metric), s.Floats})
		}
		q.Close()
	}
	switch p.Type {
	case "stat":
		return renderStat(p, rows, unit), nil
	case "table":
		return renderTable(p, rows, unit), nil
	default:
		return renderTimeseries(series, start, end, step, unit), nil
	}
}
