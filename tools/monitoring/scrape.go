package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Labels a scrape adds to every series it stores (Prometheus' target labels): series in the tests
// may carry them although /metrics does not.
var targetLabels = map[string]bool{"job": true, "instance": true, "pod": true}

var pql = parser.NewParser(parser.Options{})

// sample is one line of a text exposition.
type sample struct {
	labels labels.Labels
	value  float64
}

// readScrape parses a Prometheus text (or OpenMetrics text) exposition: every sample line, with
// its labels (the metric name as __name__). Comments, # EOF and exemplars are skipped.
func readScrape(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, rest := splitSeries(line)
		lbls, err := pql.ParseMetric(series)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s:%d: no value", path, n)
		}
		v, err := parseValue(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		out = append(out, sample{lbls, v})
	}
	return out, sc.Err()
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// splitSeries splits `name{labels} value ...` after the series (label values may hold spaces and
// braces inside quotes).
func splitSeries(line string) (string, string) {
	open := strings.IndexByte(line, '{')
	space := strings.IndexByte(line, ' ')
	if open < 0 || (space >= 0 && space < open) {
		if space < 0 {
			return line, ""
		}
		return line[:space], line[space:]
	}
	quoted, escaped := false, false
	for i := open; i < len(line); i++ {
		c := line[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == '}' && !quoted:
			return line[:i+1], line[i+1:]
		}
	}
	return line, ""
}

// shapes holds, per metric name, the sets of label names its series have (sorted, comma-joined).
type shapes map[string]map[string]bool

func loadShapes(path string) (shapes, error) {
	smp, err := readScrape(path)
	if err != nil {
		return nil, err
	}
	return shapesOf(smp), nil
}

func shapesOf(samples []sample) shapes {
	s := shapes{}
	for _, smp := range samples {
		name := smp.labels.Get(labels.MetricName)
		if s[name] == nil {
			s[name] = map[string]bool{}
		}
		s[name][labelNames(smp.labels)] = true
	}
	return s
}

// labelNames is the sorted, comma-joined label names of a series, without __name__ and the
// target labels.
func labelNames(l labels.Labels) string {
	var names []string
	l.Range(func(lb labels.Label) {
		if lb.Name != labels.MetricName && !targetLabels[lb.Name] {
			names = append(names, lb.Name)
		}
	})
	sort.Strings(names)
	return strings.Join(names, ",")
}

// hasLabel says whether some series of the metric has the label.
func (s shapes) hasLabel(metric, label string) bool {
	if label == labels.MetricName || targetLabels[label] {
		return true
	}
	for set := range s[metric] {
		for _, n := range strings.Split(set, ",") {
			if n == label {
				return true
			}
		}
	}
	return false
}

func (s shapes) describe(metric string) string {
	var sets []string
	for set := range s[metric] {
		sets = append(sets, "{"+set+"}")
	}
	sort.Strings(sets)
	return strings.Join(sets, " ")
}

// selectedMetrics checks every vector selector of expr: it names a metric (no selection by
// labels alone), the metric is in the scrape, and each label it matches on is one of the metric's.
// It returns the problems found.
func selectedMetrics(expr string, s shapes, where string) (metrics []string, problems []string) {
	e, err := pql.ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", where, err)}
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if agg, ok := node.(*parser.AggregateExpr); ok && !agg.Without {
			problems = append(problems, groupingLabels(agg.Expr, agg.Grouping, s, where)...)
		}
		if bin, ok := node.(*parser.BinaryExpr); ok && bin.VectorMatching != nil && bin.VectorMatching.On {
			problems = append(problems, groupingLabels(bin.LHS, bin.VectorMatching.MatchingLabels, s, where)...)
			problems = append(problems, groupingLabels(bin.RHS, bin.VectorMatching.MatchingLabels, s, where)...)
		}
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			problems = append(problems, fmt.Sprintf("%s: selector %s names no metric", where, vs))
			return nil
		}
		metrics = append(metrics, name)
		if s[name] == nil {
			problems = append(problems, fmt.Sprintf("%s: %s is not in the scrape", where, name))
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if !s.hasLabel(name, m.Name) {
				problems = append(problems, fmt.Sprintf("%s: %s has no label %q (scrape: %s)", where, name, m.Name, s.describe(name)))
			}
		}
		return nil
	})
	return metrics, problems
}

// groupingLabels checks that each label of a `by (...)` or `on (...)` is a label of some metric
// selected under expr (a label the scrape renames, like `namespace` to `exported_namespace`, or a
// typo would otherwise group everything into one series).
func groupingLabels(expr parser.Expr, grouping []string, s shapes, where string) (problems []string) {
	var names []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok && vs.Name != "" {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		return nil
	}
	for _, g := range grouping {
		found := false
		for _, n := range names {
			found = found || s.hasLabel(n, g) || s[n] == nil
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: no metric under %s has the label %q it groups or matches by", where, expr, g))
		}
	}
	return problems
}
