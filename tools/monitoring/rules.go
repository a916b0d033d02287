package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"go.yaml.in/yaml/v3"
)

// The parts of a promtool test file this check reads.
type testFile struct {
	Tests []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func checkRules(scrapePath, renderedPath, testsPath, outPath string) error {
	s, err := loadShapes(scrapePath)
	if err != nil {
		return err
	}

	groups, err := prometheusRuleGroups(renderedPath)
	if err != nil {
		return err
	}
	out, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		return err
	}
	if err := os.WriteFile(outPath, out, 0o644); err != nil {
		return err
	}
	var rules ruleGroups
	if err := yaml.Unmarshal(out, &rules); err != nil {
		return err
	}

	raw, err := os.ReadFile(testsPath)
	if err != nil {
		return err
	}
	var tests testFile
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		return fmt.Errorf("%s: %v", testsPath, err)
	}

	var problems []string
	// Every input series is shaped like a series of the scrape.
	for _, t := range tests.Tests {
		for _, in := range t.InputSeries {
			lbls, err := pql.ParseMetric(in.Series)
			if err != nil {
				problems = append(problems, fmt.Sprintf("test %q: input series %s: %v", t.Name, in.Series, err))
				continue
			}
			name := lbls.Get("__name__")
			if s[name] == nil {
				problems = append(problems, fmt.Sprintf("test %q: input series %s: the operator exports no %s", t.Name, in.Series, name))
			} else if !s[name][labelNames(lbls)] {
				problems = append(problems, fmt.Sprintf("test %q: input series %s: labels {%s}, the scrape has %s",
					t.Name, in.Series, labelNames(lbls), s.describe(name)))
			}
		}
	}
	// Every rule selects metrics (and labels) of the scrape, and every alert fires in a test.
	fires := map[string]bool{}
	for _, t := range tests.Tests {
		for _, a := range t.AlertRuleTests {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			where := "rule " + r.Alert + r.Record
			_, p := selectedMetrics(r.Expr, s, where)
			problems = append(problems, p...)
			if r.Alert != "" {
				alerts++
				if !fires[r.Alert] {
					problems = append(problems, fmt.Sprintf("%s: no test expects it to fire", where))
				}
			}
		}
	}
	if alerts == 0 {
		problems = append(problems, "the rendered chart holds no alert")
	}
	return report(problems, fmt.Sprintf("%d alerts, %d tests: shapes and metrics match %s", alerts, len(tests.Tests), scrapePath))
}

// prometheusRuleGroups returns spec.groups of the one PrometheusRule in a `helm template` output.
func prometheusRuleGroups(path string) (any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var found []any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if doc["kind"] == "PrometheusRule" {
			spec, _ := doc["spec"].(map[string]any)
			found = append(found, spec["groups"])
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%s: %d PrometheusRules, want 1 (render with prometheusRule.enabled=true)", path, len(found))
	}
	return found[0], nil
}

func report(problems []string, ok string) error {
	if len(problems) == 0 {
		fmt.Println(ok)
		return nil
	}
	sort.Strings(problems)
	problems = dedup(problems)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "  "+p)
	}
	return fmt.Errorf("%d problem(s)", len(problems))
}

func dedup(in []string) []string {
	var out []string
	for i, p := range in {
		if i == 0 || p != in[i-1] {
			out = append(out, p)
		}
	}
	return out
}
