package schema

import (
	"strings"
	"testing"
)

// TestIntern: after Intern, a service whose content did not change is
// the earlier commit's pointer, in the shared intents and in a view; one
// that changed, or that an override changes, keeps its own.
func TestIntern(t *testing.T) {
	const base = `package intents
fleet: clusters: {
	a: {}
	b: overrides: services: reviews: timeout: "20s"
}
services: reviews: {
	versions: {v1: labels: version: "v1"}
	timeout: *"10s" | string
	routes: [{to: v1: 100}]
}
services: ratings: {
	versions: {v1: labels: version: "v1"}
	routes: [{to: v1: 100}]
}
services: details: {
	versions: {v1: labels: version: "v1"}
	routes: [{to: v1: 100}]
}
`
	load := func(src string) *Intents {
		t.Helper()
		in, err := Load(Files{"a.cue": []byte(src)})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	prev := load(base)
	prev.Intern(nil)
	b := prev.ForCluster("b")
	if b.Services["ratings"] != prev.Services["ratings"] || b.Services["details"] != prev.Services["details"] {
		t.Error("cluster b's view does not share the services its overrides leave alone")
	}
	if b.Services["reviews"] == prev.Services["reviews"] {
		t.Error("cluster b's view shares reviews, which its overrides change")
	}

	next := load(strings.Replace(base, "services: details: {\n\tversions: {v1: labels: version: \"v1\"}", "services: details: {\n\tversions: {v1: labels: version: \"v2\"}", 1))
	next.Intern(prev)
	for name, want := range map[string]bool{"reviews": true, "ratings": true, "details": false} {
		if got := next.Services[name] == prev.Services[name]; got != want {
			t.Errorf("next commit shares %s with the previous one: %v, want %v", name, got, want)
		}
	}
	if next.ForCluster("b").Services["reviews"] != b.Services["reviews"] {
		t.Error("cluster b's overridden reviews is not shared with the previous commit's view, though it is equal")
	}
	if got := next.Services["details"].Versions["v1"].Labels["version"]; got != "v2" {
		t.Errorf("details' v1 label = %q after Intern, want the new commit's v2", got)
	}
	var none *Intents
	none.Intern(prev) // a nil result (a rejected commit) is left alone
}
