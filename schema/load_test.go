package schema

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadQuickstart(t *testing.T) {
	files, err := ReadDir(context.Background(), "../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Load(files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Service{
		Namespace: "default",
		Versions:  map[string]Version{"v1": {Labels: map[string]string{"version": "v1"}}, "v2": {Labels: map[string]string{"version": "v2"}}},
		Routes: []Route{
			{Match: []Match{{Headers: map[string]StringMatch{"x-canary": {Exact: ptr("true")}}}}, To: map[string]int{"v2": 100}},
			{To: map[string]int{"v1": 90, "v2": 10}},
		},
	}
	if diff := cmp.Diff(want, in.Services["reviews"]); diff != "" {
		t.Errorf("services.reviews (-want +got):\n%s", diff)
	}
	if got := in.Sources["services/reviews"]; got != "reviews.cue" {
		t.Errorf("source of services/reviews = %q, want reviews.cue", got)
	}
	if diff := cmp.Diff(map[string]Cluster{"c1": {Labels: map[string]string{"region": "eu-west"}, Wave: 1}, "c2": {Labels: map[string]string{"region": "us-east"}, Wave: 2}}, in.Fleet.Clusters); diff != "" {
		t.Errorf("fleet (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

const goodService = `package intents
services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: 90, v2: 10}}]
}
`

// TestLoadErrors checks that every kind of mistake is reported with the
// file, line and column a user has to edit, the field path and a hint.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files Files
		want  []string // every error, as printed
	}{
		{
			name: "typo in a field name",
			files: Files{"svc.cue": []byte(`package intents
services: reviews: {
	namespce: "shop"
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100}]
}
`)},
			want: []string{`svc.cue:3:2: services.reviews.namespce: field not allowed (hint: did you mean "namespace"?)`},
		},
		{
			name: "weights do not add up",
			files: Files{"svc.cue": []byte(`package intents
services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: 90, v2: 5}}]
}
`)},
			want: []string{`svc.cue:4:12: services.reviews.routes[0].to: weights add up to 95, want 100 (hint: give the versions weights in percent that add up to 100)`},
		},
		{
			name: "unknown version and unreachable route, both reported",
			files: Files{"svc.cue": []byte(`package intents
services: reviews: {
	versions: {v1: labels: version: "v1"}
	routes: [
		{to: {v1: 100}},
		{to: {v3: 100}},
	]
}
`)},
			want: []string{
				`svc.cue:5:3: services.reviews.routes[0]: route without match is followed by 1 more route(s), which can never be reached (hint: move the route without match to the end of the list: it is the default route)`,
				`svc.cue:6:13: services.reviews.routes[1].to.v3: version "v3" is not declared in services.reviews.versions (hint: declared versions: v1)`,
			},
		},
		{
			name: "wrong type",
			files: Files{"svc.cue": []byte(`package intents
services: reviews: {
	versions: {v1: labels: version: "v1"}
	routes: [{to: {v1: "all"}}]
}
`)},
			want: []string{`svc.cue:4:21: services.reviews.routes[0].to.v1: conflicting values "all" and int (mismatched types string and int)`},
		},
		{
			name:  "syntax error",
			files: Files{"svc.cue": []byte("package intents\nservices: reviews: {\n")},
			want:  []string{`svc.cue:2:22: expected '}', found 'EOF'`},
		},
		{
			name: "errors in two files are reported together",
			files: Files{
				"a.cue":   []byte("package intents\nservices: a: {versions: v1: labels: version: \"v1\", routes: [{to: v1: 100}], nmespace: \"x\"}\n"),
				"b/b.cue": []byte("package intents\nfleet: clusters: c1: wave: 0\n"),
			},
			want: []string{
				`a.cue:2:77: services.a.nmespace: field not allowed (hint: did you mean "namespace"?)`,
				`b/b.cue:2:28: fleet.clusters.c1.wave: invalid value 0 (out of bound >=1)`,
			},
		},
		{
			name: "two package names",
			files: Files{
				"a.cue": []byte(goodService),
				"b.cue": []byte("package other\n"),
			},
			want: []string{`b.cue:1:1: package "other" differs from package "intents" in a.cue (hint: all intent files form one package; use the same package clause in every file)`},
		},
		{
			name:  "no files",
			files: Files{},
			want:  []string{`no .cue files found (hint: point sailplan at the directory that holds your intent files)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.files)
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("Load error is %T, want Errors: %v", err, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nall:\n%s", diff, strings.Join(got, "\n"))
			}
		})
	}
}

// TestClusterOverrides: a cluster's overrides replace defaults for that
// cluster only, and contradicting a concrete value names the cluster.
func TestClusterOverrides(t *testing.T) {
	base := `package intents
fleet: clusters: {
	a: {}
	b: overrides: services: reviews: {timeout: "20s", routes: [{to: {v1: 50, v2: 50}}]}
}
services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: *"10s" | string
	routes: [{to: {v1: *90 | int, v2: *10 | int}}]
}
`
	in, err := Load(Files{"a.cue": []byte(base)})
	if err != nil {
		t.Fatal(err)
	}
	if got := in.ForCluster("a").Services["reviews"]; text(got.Timeout) != "10s" || got.Routes[0].To["v1"] != 90 {
		t.Errorf("cluster a sees timeout %s and v1 %d, want the shared 10s and 90", text(got.Timeout), got.Routes[0].To["v1"])
	}
	if got := in.ForCluster("b").Services["reviews"]; text(got.Timeout) != "20s" || got.Routes[0].To["v1"] != 50 {
		t.Errorf("cluster b sees timeout %s and v1 %d, want its overrides 20s and 50", text(got.Timeout), got.Routes[0].To["v1"])
	}
	if !in.Fleet.Clusters["b"].HasOverrides || in.Fleet.Clusters["a"].HasOverrides {
		t.Errorf("HasOverrides: a %v, b %v; want false, true", in.Fleet.Clusters["a"].HasOverrides, in.Fleet.Clusters["b"].HasOverrides)
	}

	concrete := strings.Replace(base, `timeout: *"10s" | string`, `timeout: "10s"`, 1)
	_, err = Load(Files{"a.cue": []byte(concrete)})
	want := `a.cue:4:45: services.reviews.timeout: cluster b: conflicting values "20s" and "10s" (hint: an override can only replace a default: write the base value as *VALUE | TYPE (such as *90 | int))`
	if err == nil || err.Error() != want {
		t.Errorf("Load error =\n%v\nwant\n%s", err, want)
	}

	typo := strings.Replace(base, `timeout: "20s"`, `timout: "20s"`, 1)
	_, err = Load(Files{"a.cue": []byte(typo)})
	want = `a.cue:4:36: services.reviews.timout: cluster b: field not allowed (hint: did you mean "timeout"?)`
	if err == nil || err.Error() != want {
		t.Errorf("Load error =\n%v\nwant\n%s", err, want)
	}
}

// TestMissingRequiredField: a missing required field is reported at the
// struct that lacks it.
func TestMissingRequiredField(t *testing.T) {
	_, err := Load(Files{"svc.cue": []byte("package intents\nservices: reviews: {\n\troutes: [{to: v1: 100}]\n\tversions: v1: {}\n}\n")})
	want := `svc.cue:4:12: services.reviews.versions.v1.labels: field is required but not present (hint: add the field; see docs/intents.md)`
	if err == nil || err.Error() != want {
		t.Errorf("Load error =\n%v\nwant\n%s", err, want)
	}
}
