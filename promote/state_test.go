package promote

import (
	"testing"

	"github.com/sailplan/sailplan/schema"
)

// TestPlanDigestUnchanged: the digests of plans as users write them are
// the ones sailplan stored before durations were decoded into
// time.Duration, so promotions in flight during an upgrade keep their
// step instead of starting over at 0 %.
func TestPlanDigestUnchanged(t *testing.T) {
	in, err := schema.Load(schema.Files{"r.cue": []byte(`package intents
services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [5, 50, 100]
		every: "1h30m"
		window: "* 9-17 * * 1-5"
		blackouts: [{start: "0 18 * * 5", duration: "62h"}, {start: "0 12 * * *", duration: "45m"}]
		analysis: latencyP99: "1.5s"
	}
}
services: ratings: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {stable: "v1", candidate: "v2", steps: [10, 100]}
}
`)})
	if err != nil {
		t.Fatal(err)
	}
	// Computed by sailplan a10a73e, which kept durations as text.
	for name, want := range map[string]string{"reviews": "e5b17e0045601697", "ratings": "613ca61eb42d038b"} {
		if got := planDigest(in.Services[name].Canary); got != want {
			t.Errorf("plan digest of %s = %s, want %s as before", name, got, want)
		}
	}
}
