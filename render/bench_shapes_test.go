package render

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sailplan/sailplan/schema"
)

// templateCUE is the templated repository's one template: the house
// defaults for every service, applied by a pattern constraint, and the
// comprehension that declares the services the teams list. Values a
// cluster may override are defaults (*VALUE | TYPE).
const templateCUE = `package intents

// Every service gets the house defaults.
services: [Name=_]: {
	versions: {
		v1: labels: {app: Name, version: "v1"}
		v2: labels: {app: Name, version: "v2"}
	}
	timeout: *"10s" | string
	retries: {attempts: *2 | int, perTryTimeout: "3s", retryOn: ["5xx", "reset", "connect-failure"]}
	policy: {
		connectionPool: {tcp: maxConnections: *100 | int, http: {http1MaxPendingRequests: 50, maxRequestsPerConnection: 10}}
		outlierDetection: {consecutive5xxErrors: 5, interval: "30s", baseEjectionTime: "30s", maxEjectionPercent: 50}
		loadBalancer: simple: "LEAST_REQUEST"
	}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{match: [{uri: prefix: "/api/\(Name)"}], to: {v1: 80, v2: 20}},
		{},
	]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [5, 10, 25, 50, 100]
		window: "* 9-17 * * 1-5"
		analysis: {successRate: 99.9, latencyP99: "100ms", minRequests: 200}
	}
}

// A team lists its services' names; they live in the team's namespace.
_teams: [Team=_]: [...string]
for team, names in _teams for name in names {
	services: (name): namespace: "team-\(team)"
}
`

// writeTemplatedRepo writes n services the CUE way: one template (a
// pattern constraint with the house defaults), a comprehension declaring
// the services from the teams' lists, and 20 team files that only list
// service names. With overrides, cluster c1 overrides a default for every
// service (by a pattern) and one service's default route.
func writeTemplatedRepo(tb testing.TB, dir string, n int, overrides bool) {
	tb.Helper()
	fleet := "package intents\n\nfleet: clusters: {\n\tc1: wave: 1\n\tc2: wave: 2\n\tc3: wave: 2\n}\n"
	if overrides {
		fleet += `
fleet: clusters: c1: overrides: services: {
	[_]: timeout: "20s"
	"svc-0000": retries: attempts: 5
}
fleet: clusters: c3: overrides: services: [_]: policy: connectionPool: tcp: maxConnections: 200
`
	}
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("fleet.cue", fleet)
	write("template.cue", templateCUE)
	const teams = 20
	for t := range teams {
		var b strings.Builder
		fmt.Fprintf(&b, "package intents\n\n_teams: %q: [\n", fmt.Sprintf("%02d", t))
		for i := t; i < n; i += teams {
			fmt.Fprintf(&b, "\t%q,\n", fmt.Sprintf("svc-%04d", i))
		}
		b.WriteString("]\n")
		write(fmt.Sprintf("team-%02d.cue", t), b.String())
	}
}

// TestWriteShapes checks that each shape the benchmark writes is valid
// intents that declare every service, on 40 services each. With
// $SAILPLAN_SHAPES_DIR set it writes the 1,000-service repositories there,
// to run sailplan and cue on them by hand.
func TestWriteShapes(t *testing.T) {
	dir, n := os.Getenv("SAILPLAN_SHAPES_DIR"), 1000
	if dir == "" {
		dir, n = t.TempDir(), 40
	}
	for name, write := range map[string]func(string){
		"literal":   func(d string) { writeRepo(t, d, n) },
		"templated": func(d string) { writeTemplatedRepo(t, d, n, false) },
		"overrides": func(d string) { writeTemplatedRepo(t, d, n, true) },
	} {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		write(d)
		files, err := schema.ReadDir(t.Context(), d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in, err := schema.Load(files)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(in.Services) != n || len(in.Fleet.Clusters) != 3 {
			t.Errorf("%s: %d services and %d clusters, want %d and 3", name, len(in.Services), len(in.Fleet.Clusters), n)
		}
	}
}

// BenchmarkLoadRenderTemplated1000 is BenchmarkLoadRender1000 on the
// templated repository, in process.
func BenchmarkLoadRenderTemplated1000(b *testing.B) {
	benchLoadRender(b, func(dir string) { writeTemplatedRepo(b, dir, 1000, false) }, schemaLoad)
}

// BenchmarkLoadRenderOverrides1000 is the templated repository with
// cluster overrides, in process.
func BenchmarkLoadRenderOverrides1000(b *testing.B) {
	benchLoadRender(b, func(dir string) { writeTemplatedRepo(b, dir, 1000, true) }, schemaLoad)
}
