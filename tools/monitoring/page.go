package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

func jsonUnmarshal(raw []byte, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

type row struct {
	ref    string
	labels labels.Labels
	value  float64
}

type line struct {
	name   string
	points []promql.FPoint
}

const pageHead = `<!doctype html>
<html><head><meta charset="utf-8"><title>%s</title>
<style>
body{margin:0;background:#111217;color:#ccccdc;font:12px/1.35 "DejaVu Sans",Arial,sans-serif}
header{padding:10px 16px;border-bottom:1px solid #2c2d33;display:flex;gap:16px;align-items:baseline}
header h1{font-size:16px;margin:0;color:#fff;font-weight:500}
header span{color:#8e8e99}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-template-rows:repeat(%d,26px);gap:8px;padding:8px 16px}
.panel{background:#181b1f;border:1px solid #2c2d33;border-radius:3px;padding:6px 8px;overflow:hidden;display:flex;flex-direction:column}
.panel h2{font-size:12px;font-weight:500;margin:0 0 4px;color:#d8d9da}
.stat{flex:1;display:flex;align-items:center;justify-content:center;font-size:34px;font-weight:500}
.ts{display:flex;flex:1;min-height:0;gap:8px}
.ts svg{flex:1;min-width:0;height:100%%}
.legend{width:38%%;overflow:hidden;font-size:10.5px}
.legend div{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.legend i{display:inline-block;width:10px;height:3px;margin-right:5px;vertical-align:middle}
table{border-collapse:collapse;width:100%%;font-size:11px}
th{text-align:left;color:#6e9fff;font-weight:500;border-bottom:1px solid #2c2d33;padding:3px 6px}
td{padding:3px 6px;border-bottom:1px solid #202226}
.empty{flex:1;display:flex;align-items:center;justify-content:center;color:#6c6c75}
</style></head><body>
<header><h1>%s</h1><span>rendered from recorded /metrics scrapes of make demo, %s to %s (%d scrapes), by tools/monitoring with the Prometheus PromQL engine; not a Grafana screenshot</span></header>
<div class="grid">
`

var palette = []string{"#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a", "#37872d", "#c4162a", "#1f60c4", "#fa6400"}

var legendVar = regexp.MustCompile(`\{\{ *([a-zA-Z_][a-zA-Z0-9_]*) *\}\}`)

func legend(format string, l labels.Labels) string {
	if format == "" {
		return l.String()
	}
	return legendVar.ReplaceAllStringFunc(format, func(m string) string {
		return l.Get(legendVar.FindStringSubmatch(m)[1])
	})
}

func format(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	switch unit {
	case "s":
		a := math.Abs(v)
		sign := ""
		if v < 0 {
			sign = "-"
		}
		switch {
		case a >= 86400:
			return fmt.Sprintf("%s%.1f day", sign, a/86400)
		case a >= 3600:
			return fmt.Sprintf("%s%.1f h", sign, a/3600)
		case a >= 60:
			return fmt.Sprintf("%s%.1f min", sign, a/60)
		case a >= 1 || a == 0:
			return fmt.Sprintf("%s%.2g s", sign, a)
		default:
			return fmt.Sprintf("%s%.3g ms", sign, a*1000)
		}
	case "ops", "reqps":
		return fmt.Sprintf("%.3g/s", v)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func renderStat(p panel, rows []row, unit string) string {
	if len(rows) == 0 {
		return `<div class="empty">No data</div>`
	}
	v := rows[0].value
	var th struct {
		Defaults struct {
			Thresholds struct {
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	}
	_ = jsonUnmarshal(p.FieldConfig, &th)
	color := "#73bf69"
	for _, s := range th.Defaults.Thresholds.Steps {
		if s.Value == nil || v >= *s.Value {
			color = map[string]string{"green": "#73bf69", "red": "#f2495c", "blue": "#5794f2"}[s.Color]
		}
	}
	return fmt.Sprintf(`<div class="stat" style="color:%s">%s</div>`, color, format(v, unit))
}

func renderTable(p panel, rows []row, unit string) string {
	if len(rows) == 0 {
		return `<div class="empty">No data</div>`
	}
	// Grafana's merge transformation: one row per label set, one column per query.
	type merged struct {
		key    string
		labels labels.Labels
		values map[string]float64
	}
	var names []string
	nameSet := map[string]bool{}
	byKey := map[string]*merged{}
	var order []string
	for _, r := range rows {
		k := r.labels.String()
		if byKey[k] == nil {
			byKey[k] = &merged{k, r.labels, map[string]float64{}}
			order = append(order, k)
		}
		byKey[k].values[r.ref] = r.value
		r.labels.Range(func(l labels.Label) {
			if !nameSet[l.Name] {
				nameSet[l.Name] = true
				names = append(names, l.Name)
			}
		})
	}
	sort.Strings(order)
	rename := map[string]string{}
	for _, t := range p.Transformations {
		for k, v := range t.Options.RenameByName {
			rename[k] = v
		}
	}
	var b strings.Builder
	b.WriteString("<table><tr>")
	for _, n := range names {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(n))
	}
	for _, t := range p.Targets {
		h := rename["Value #"+t.RefID]
		if h == "" {
			h = "Value #" + t.RefID
		}
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>")
	for _, k := range order {
		m := byKey[k]
		b.WriteString("<tr>")
		for _, n := range names {
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(m.labels.Get(n)))
		}
		for i, t := range p.Targets {
			v, ok := m.values[t.RefID]
			cell := ""
			if ok {
				u := unit
				if i > 1 {
					u = ""
				}
				cell = format(v, u)
			}
			fmt.Fprintf(&b, "<td>%s</td>", cell)
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return b.String()
}

func renderTimeseries(series []line, start, end time.Time, step time.Duration, unit string) string {
	if len(series) == 0 {
		return `<div class="empty">No data</div>`
	}
	sort.SliceStable(series, func(i, j int) bool { return series[i].name < series[j].name })
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.points {
			if !math.IsNaN(p.F) && !math.IsInf(p.F, 0) {
				lo, hi = math.Min(lo, p.F), math.Max(hi, p.F)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	lo = math.Min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	hi += (hi - lo) * 0.08
	const W, H, left, bottom = 600.0, 200.0, 56.0, 16.0
	t0, t1 := float64(start.UnixMilli()), float64(end.UnixMilli())
	x := func(ms int64) float64 { return left + (float64(ms)-t0)/(t1-t0)*(W-left-4) }
	y := func(v float64) float64 { return 4 + (hi-v)/(hi-lo)*(H-bottom-8) }
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="ts"><svg viewBox="0 0 %.0f %.0f" preserveAspectRatio="none">`, W, H)
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#2c2d33"/><text x="%.0f" y="%.1f" fill="#8e8e99" font-size="9" text-anchor="end">%s</text>`,
			left, W-4, y(v), y(v), left-4, y(v)+3, html.EscapeString(format(v, unit)))
	}
	for i := 0; i <= 4; i++ {
		ms := int64(t0 + (t1-t0)*float64(i)/4)
		anchor := map[int]string{0: "start", 4: "end"}[i]
		if anchor == "" {
			anchor = "middle"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#8e8e99" font-size="9" text-anchor="%s">%s</text>`,
			x(ms), H-3, anchor, time.UnixMilli(ms).UTC().Format("15:04:05"))
	}
	for i, s := range series {
		color := palette[i%len(palette)]
		var path strings.Builder
		var prev int64
		gap := true
		for _, p := range s.points {
			// NaN (a quantile of no requests) and gaps longer than three steps break the line.
			if math.IsNaN(p.F) || math.IsInf(p.F, 0) {
				gap = true
				continue
			}
			cmd := "L"
			if gap || p.T-prev > 3*step.Milliseconds() {
				cmd = "M"
			}
			gap, prev = false, p.T
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(p.T), y(p.F))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6" vector-effect="non-scaling-stroke"/>`, path.String(), color)
	}
	b.WriteString(`</svg><div class="legend">`)
	for i, s := range series {
		last := math.NaN()
		for _, p := range s.points {
			if !math.IsNaN(p.F) {
				last = p.F
			}
		}
		fmt.Fprintf(&b, `<div><i style="background:%s"></i>%s <span style="color:#8e8e99">%s</span></div>`,
			palette[i%len(palette)], html.EscapeString(s.name), format(last, unit))
	}
	b.WriteString(`</div></div>`)
	return b.String()
}
