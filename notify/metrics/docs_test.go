package metrics

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder keeps the collectors registered with it.
type recorder struct{ collectors []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// typeOf is the type Prometheus shows for what a collector serves; the
// collectors of this package's own serve gauges.
func typeOf(c prometheus.Collector) string {
	switch c.(type) {
	case prometheus.Gauge, *prometheus.GaugeVec:
		// Before Counter, whose methods a Gauge has too.
		return "gauge"
	case prometheus.Counter, *prometheus.CounterVec:
		return "counter"
	case prometheus.Histogram, *prometheus.HistogramVec:
		return "histogram"
	}
	return "gauge"
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	docRow     = regexp.MustCompile("(?m)^\\| `(sailplan_[a-z_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
)

// TestEveryMetricIsDocumented: docs/operations.md's metrics reference has
// a row for every metric New registers, with its type and labels, and
// none for a metric that does not exist.
func TestEveryMetricIsDocumented(t *testing.T) {
	var r recorder
	New(&r)
	var registered []string
	for _, c := range r.collectors {
		ch := make(chan *prometheus.Desc, 32)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			name := descName.FindStringSubmatch(d.String())[1]
			var labels []string
			if l := descLabels.FindStringSubmatch(d.String())[1]; l != "" {
				labels = strings.Split(l, ",")
			}
			registered = append(registered, row(name, typeOf(c), labels))
		}
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range docRow.FindAllStringSubmatch(string(doc), -1) {
		var labels []string
		for l := range strings.SplitSeq(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				labels = append(labels, l)
			}
		}
		documented = append(documented, row(m[1], m[2], labels))
	}
	slices.Sort(registered)
	slices.Sort(documented)
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("docs/operations.md#metrics: the rows | `name` | type | labels | ... differ from the metrics registered (-registered +documented):\n%s", diff)
	}
}

func row(name, typ string, labels []string) string {
	slices.Sort(labels)
	return fmt.Sprintf("%s %s {%s}", name, typ, strings.Join(labels, ","))
}
