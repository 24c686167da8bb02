package schema

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestLoadClusterIsTheView: on every example and on a fleet with
// overrides, LoadCluster gives for each cluster what Load's ForCluster
// gives, sources and warnings included.
func TestLoadClusterIsTheView(t *testing.T) {
	repos := map[string]Files{"overrides": {"a.cue": []byte(`package intents
fleet: clusters: {
	a: {}
	b: overrides: services: reviews: {timeout: "20s", routes: [{to: {v1: 50, v2: 50}}]}
	"us-1": overrides: services: [_]: timeout: "30s"
}
services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: *"10s" | string
	routes: [{to: {v1: *90 | int, v2: *10 | int}}]
}
services: ratings: {
	versions: v1: labels: version: "v1"
	timeout: *"5s" | string
	routes: [{to: v1: 100}]
}
`)}}
	dirs, _ := filepath.Glob("../examples/*")
	for _, dir := range dirs {
		if strings.HasSuffix(dir, ".go") {
			continue
		}
		files, err := ReadDir(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		repos[dir] = files
	}
	for name, files := range repos {
		in, err := Load(files)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, cluster := range slices.Sorted(maps.Keys(in.Fleet.Clusters)) {
			got, err := LoadCluster(files, cluster)
			if err != nil {
				t.Fatalf("%s, cluster %s: %v", name, cluster, err)
			}
			want := in.ForCluster(cluster)
			ignore := cmpopts.IgnoreFields(Intents{}, "Fleet", "Warnings")
			if diff := cmp.Diff(want, got.ForCluster(cluster), cmpopts.IgnoreUnexported(Intents{}), ignore, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s, cluster %s: LoadCluster differs from Load's view (-Load +LoadCluster):\n%s", name, cluster, diff)
			}
			if got.Fleet.Clusters[cluster].HasOverrides != in.Fleet.Clusters[cluster].HasOverrides {
				t.Errorf("%s, cluster %s: HasOverrides %v, want %v", name, cluster, got.Fleet.Clusters[cluster].HasOverrides, in.Fleet.Clusters[cluster].HasOverrides)
			}
		}
	}
	if len(repos) < 5 {
		t.Fatalf("%d repositories, want the examples too", len(repos))
	}
}

// TestLoadClusterErrors: a cluster's own mistake is reported as Load
// reports it; another cluster's is not LoadCluster's to report.
func TestLoadClusterErrors(t *testing.T) {
	const src = `package intents
fleet: clusters: {
	a: overrides: services: reviews: timeout: "20s"
	b: overrides: services: reviews: timout: "20s"
}
services: reviews: {
	versions: v1: labels: version: "v1"
	timeout: "10s"
	routes: [{to: v1: 100}]
}
`
	files := Files{"a.cue": []byte(src)}
	_, loadErr := Load(files)
	for _, tt := range []struct {
		cluster, want string
	}{
		{"a", `a.cue:3:44: services.reviews.timeout: cluster a: conflicting values "20s" and "10s" (hint: an override can only replace a default: write the base value as *VALUE | TYPE (such as *90 | int))`},
		{"b", `a.cue:4:35: services.reviews.timout: cluster b: field not allowed (hint: did you mean "timeout"?)`},
	} {
		_, err := LoadCluster(files, tt.cluster)
		if err == nil || err.Error() != tt.want {
			t.Errorf("LoadCluster %s: error\n%v\nwant\n%s", tt.cluster, err, tt.want)
		}
		if loadErr == nil || !strings.Contains(loadErr.Error(), tt.want) {
			t.Errorf("Load error\n%v\ndoes not report %s", loadErr, tt.want)
		}
	}
	ok := strings.Replace(src, `a: overrides: services: reviews: timeout: "20s"`, `a: {}`, 1)
	in, err := LoadCluster(Files{"a.cue": []byte(ok)}, "a")
	if err != nil || in.Services["reviews"] == nil {
		t.Errorf("LoadCluster a with b's mistake: %v, want a's intents: b's overrides are not evaluated", err)
	}
}
