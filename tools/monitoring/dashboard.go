package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The parts of a Grafana dashboard this tool reads.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *datasourceRef  `json:"datasource"`
	GridPos     gridPos         `json:"gridPos"`
	Targets     []target        `json:"targets"`
	FieldConfig json.RawMessage `json:"fieldConfig"`
	// Grafana transformations; the renderer applies `organize`'s renameByName to table columns.
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			RenameByName map[string]string `json:"renameByName"`
		} `json:"options"`
	} `json:"transformations"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct{ X, Y, W, H int }

type target struct {
	RefID        string         `json:"refId"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
	Instant      bool           `json:"instant"`
	Format       string         `json:"format"`
	Datasource   *datasourceRef `json:"datasource"`
}

func readDashboard(path string) (*dashboard, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &d, nil
}

// The Grafana variables the expressions may use, and what they stand for when checked or rendered.
func substitute(expr string, rateInterval string) string {
	return strings.NewReplacer(
		"$__rate_interval", rateInterval, "${__rate_interval}", rateInterval,
		"$__range", "1h", "$__interval", rateInterval,
		"$namespace", ".*", "${namespace}", ".*",
	).Replace(expr)
}

var labelValues = regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*), *([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func checkDashboard(scrapePath, path string) error {
	s, err := loadShapes(scrapePath)
	if err != nil {
		return err
	}
	d, err := readDashboard(path)
	if err != nil {
		return err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		bad("uid %q, title %q, schemaVersion %d: all required (schemaVersion >= 30)", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "datasource" && v.Query != "prometheus" {
			bad("variable %s: a datasource variable of type prometheus expected", v.Name)
		}
		if v.Type == "query" {
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				bad("variable %s: definition %q is not label_values(metric, label)", v.Name, v.Definition)
			} else if !s.hasLabel(m[1], m[2]) || s[m[1]] == nil {
				bad("variable %s: %s with label %s is not in the scrape", v.Name, m[1], m[2])
			}
		}
	}
	if !vars["datasource"] {
		bad("no datasource variable")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			bad("%s: id missing or used twice", where)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Description == "" {
			bad("%s: a title and a description are required", where)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			bad("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			bad("%s: datasource must be the ${datasource} variable", where)
		}
		if len(p.Targets) == 0 {
			bad("%s: no targets", where)
		}
		for _, t := range p.Targets {
			tw := where + " target " + t.RefID
			if t.Datasource != nil && t.Datasource.UID != "${datasource}" {
				bad("%s: datasource must be the ${datasource} variable", tw)
			}
			if strings.TrimSpace(t.Expr) == "" {
				bad("%s: no expression", tw)
				continue
			}
			_, p := selectedMetrics(substitute(t.Expr, "1m"), s, tw)
			problems = append(problems, p...)
		}
	}
	// Panels must not overlap.
	for i, a := range d.Panels {
		for _, b := range d.Panels[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				bad("panels %d and %d overlap", a.ID, b.ID)
			}
		}
	}
	return report(problems, fmt.Sprintf("%s: %d panels; every expression selects metrics of %s", path, len(d.Panels), scrapePath))
}
