package promote

import (
	"fmt"
	"testing"
	"time"

	"github.com/sailplan/sailplan/schema"
)

// TestWindowAndInterval: outside the plan's window nothing advances;
// inside it, steps advance once per interval, through the real store.
func TestWindowAndInterval(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	src := fmt.Sprintf(`package intents
fleet: clusters: c1: {}
services: reviews: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {stable: "v1", candidate: "v2", steps: [10, 50, 100], every: "30m", window: "* 9-16 * * 1-5", timeZone: "Europe/Berlin"}
}
`, ns)
	in, err := schema.Load(schema.Files{"a.cue": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := time.Date(2026, 11, 23, 7, 0, 0, 0, berlin) // Monday, 07:00
	c := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Now: func() time.Time { return clock }}
	weight := func() int {
		st, err := c.Store.Get(t.Context(), "reviews")
		if err != nil || st == nil {
			t.Fatalf("state: %v", err)
		}
		return st.Waves[0].Weight
	}
	steps := []struct {
		at   string
		want int
	}{
		{"07:00", 0},  // the promotion starts, outside the window
		{"08:59", 0},  // still outside
		{"09:00", 10}, // the window opens: first step
		{"09:20", 10}, // the interval has not passed
		{"09:30", 50}, // it has
		{"16:59", 100},
	}
	for _, s := range steps {
		hm, _ := time.Parse("15:04", s.at)
		clock = time.Date(2026, 11, 23, hm.Hour(), hm.Minute(), 0, 0, berlin)
		if _, err := step(t, c, in); err != nil {
			t.Fatal(err)
		}
		if _, err := step(t, c, in); err != nil { // a second look changes nothing more
			t.Fatal(err)
		}
		if got := weight(); got != s.want {
			t.Errorf("%s: candidate at %d%%, want %d%%", s.at, got, s.want)
		}
	}
	clock = time.Date(2026, 11, 23, 17, 30, 0, 0, berlin)
	if _, err := step(t, c, in); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Store.Get(t.Context(), "reviews")
	if st.Phase == Promoted || st.Reason != "schedule: outside the window" {
		t.Errorf("17:30: phase %s, reason %q; want to hold outside the window", st.Phase, st.Reason)
	}
}
