package bounded

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// TestLoadEqualsInProcess: through the child, every repository loads to
// exactly what schema.Load gives in process, cluster views and sources
// included.
func TestLoadEqualsInProcess(t *testing.T) {
	for name, files := range repositories(t) {
		want, err := schema.Load(files)
		if err != nil {
			t.Fatalf("%s in process: %v", name, err)
		}
		got, err := Load(t.Context(), files, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameIntents(t, name, want, got)
		for cluster := range want.Fleet.Clusters {
			sameIntents(t, name+" for "+cluster, want.ForCluster(cluster), got.ForCluster(cluster))
		}
	}
}

// TestLoadErrors: invalid intents give the errors schema.Load gives in
// process, each at its file:line:col with its hint.
func TestLoadErrors(t *testing.T) {
	fleet := "package intents\n\nfleet: clusters: {\n\tc1: {wave: 1, overrides: services: reviews: routes: [{to: {v1: 50, v2: 50}}]}\n}\n"
	for _, c := range []struct {
		name  string
		files schema.Files
		want  string // the whole error text, when given
	}{
		{name: "typo", files: schema.Files{"reviews.cue": []byte("package intents\n\nservices: reviews: {\n\tnamespce: \"shop\"\n\tversions: v1: labels: version: \"v1\"\n\troutes: [{to: {v1: 100}}]\n}\n")},
			want: `reviews.cue:4:2: services.reviews.namespce: field not allowed (hint: did you mean "namespace"?)`},
		{name: "syntax", files: schema.Files{"a.cue": []byte("package intents\n\nservices: {\n")}},
		{name: "weights", files: schema.Files{"r.cue": []byte(strings.Replace(reviews, "90", "80", 1))}},
		{name: "packages", files: schema.Files{"a.cue": []byte("package a\n"), "b.cue": []byte("package b\n")}},
		{name: "no files", files: schema.Files{}, want: "no .cue files found (hint: point sailplan at the directory that holds your intent files)"},
		{name: "override conflict", files: schema.Files{"fleet.cue": []byte(fleet), "r.cue": []byte(reviews)}},
	} {
		_, want := schema.Load(c.files)
		var wantErrs schema.Errors
		if !errors.As(want, &wantErrs) {
			t.Fatalf("%s: in process %v, want schema.Errors", c.name, want)
		}
		_, err := Load(t.Context(), c.files, Limits{})
		var errs schema.Errors
		if !errors.As(err, &errs) {
			t.Fatalf("%s: %v, want schema.Errors", c.name, err)
		}
		if diff := cmp.Diff(wantErrs, errs); diff != "" {
			t.Errorf("%s (-in process +through the pipe):\n%s", c.name, diff)
		}
		if c.want != "" && err.Error() != c.want {
			t.Errorf("%s: %q, want %q", c.name, err, c.want)
		}
	}
}

const reviews = `package intents

services: reviews: {
	namespace: "default"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: 90, v2: 10}}]
}
`

func TestInProcess(t *testing.T) {
	files := schema.Files{"r.cue": []byte(reviews)}
	want, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(t.Context(), files, Limits{InProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	sameIntents(t, "in process", want, got)
}

// TestChildWithoutHook: a process started to evaluate that evaluates
// again says what is missing rather than starting children without end.
func TestChildWithoutHook(t *testing.T) {
	t.Setenv(childEnv, protocol)
	_, err := Load(t.Context(), schema.Files{"r.cue": []byte(reviews)}, Limits{})
	if !errors.Is(err, errNoHook) {
		t.Errorf("Load in a child: %v, want %v", err, errNoHook)
	}
}

func TestLoadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Load(ctx, schema.Files{"r.cue": []byte(reviews)}, Limits{})
	if !errors.Is(err, context.Canceled) || err.Error() != "evaluation stopped: context canceled" {
		t.Errorf("Load with a canceled context: %v, want evaluation stopped: context canceled", err)
	}
}

// TestEvaluateSaysWhatItTook: every evaluation that ran says how long it
// took and, through the child, the most memory the child held: valid
// intents and invalid ones (limitHit checks one stopped at a limit); in
// process, the time only; none when nothing ran.
func TestEvaluateSaysWhatItTook(t *testing.T) {
	files := schema.Files{"r.cue": []byte(reviews)}
	for name, c := range map[string]struct {
		files schema.Files
		l     Limits
		peak  bool
	}{
		"valid":      {files, Limits{}, runtime.GOOS == "linux"},
		"invalid":    {schema.Files{"r.cue": []byte(strings.Replace(reviews, "90", "80", 1))}, Limits{}, runtime.GOOS == "linux"},
		"in process": {files, Limits{InProcess: true}, false},
	} {
		start := time.Now()
		_, u, _ := Evaluate(t.Context(), c.files, c.l)
		took := time.Since(start)
		if u.Took <= 0 || u.Took > took {
			t.Errorf("%s: took %s, want more than 0 and at most the %s Evaluate took", name, u.Took, took)
		}
		// A Go child holds a few MiB at least, and far less than a GiB here.
		if c.peak != (u.Peak > 1<<20 && u.Peak < 1<<30) {
			t.Errorf("%s: peak %d bytes, want a child's peak: %v", name, u.Peak, c.peak)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, u, _ := Evaluate(ctx, files, Limits{}); u != (Usage{}) {
		t.Errorf("nothing ran, yet it took %+v", u)
	}
}
