package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sailplan/sailplan/notify"
)

// compare fails with the difference when the families named differ
// from want.
func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// countSeries is how many series of the family name reg has.
func countSeries(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// seriesOf is the family name as exposition text.
func seriesOf(t *testing.T, reg *prometheus.Registry, name string) string {
	t.Helper()
	var b strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			b.WriteString(mf.String())
		}
	}
	return b.String()
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestLeader: the replica says whether it leads.
func TestLeader(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	want := func(v string) string {
		return "# HELP sailplan_leader 1 while this replica leads (syncs, promotes, writes the status), 0 while it stands by.\n# TYPE sailplan_leader gauge\nsailplan_leader " + v + "\n"
	}
	compare(t, reg, want("0"), "sailplan_leader")
	m.Handle(notify.LeaderChanged{At: notify.At{Time: t0}, Leading: true})
	compare(t, reg, want("1"), "sailplan_leader")
}
