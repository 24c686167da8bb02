package bounded

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// repositories are the intent repositories of the project: between them
// every kind of intent, overrides (examples/fleet), raw objects
// (render/testdata/mesh), policies with numbers (examples/resilience), one
// file and several.
func repositories(t *testing.T) map[string]schema.Files {
	t.Helper()
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("../../render/testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]schema.Files{}
	for _, dir := range append(dirs, more...) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		files, err := schema.ReadDir(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) > 0 {
			out[filepath.Base(dir)] = files
		}
	}
	if len(out) < 8 {
		t.Fatalf("found %d intent repositories, want the examples and render's test data", len(out))
	}
	return out
}

// sameIntents compares intents with everything they hold, cluster views
// included.
func sameIntents(t *testing.T, what string, want, got *schema.Intents) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(schema.Intents{})); diff != "" {
		t.Errorf("%s (-in process +through the pipe):\n%s", what, diff)
	}
}

// TestWireKeepsEverything: what crosses the pipe decodes to the intents
// schema.Load gave, field for field, with what their JSON leaves out.
func TestWireKeepsEverything(t *testing.T) {
	for name, files := range repositories(t) {
		in, err := schema.Load(files)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := json.Marshal(answer{Intents: toWire(in)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := a.result()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameIntents(t, name, in, got)
	}
}

// TestWireKeepsWarnings: warnings cross the pipe with their positions,
// the shared intents' and those a cluster's overrides cause.
func TestWireKeepsWarnings(t *testing.T) {
	files := schema.Files{"pay.cue": []byte(`package intents

fleet: clusters: {a: {}, b: overrides: services: payments: versions: v1: policy: tls: mode: "SIMPLE"}
services: payments: {
	versions: v1: labels: version: "v1"
	policy: tls: mode: "MUTUAL"
	policy: tls: credentialName: "client"
	routes: [{to: v1: 100}]
}
`)}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Warnings) != 1 || !strings.HasPrefix(in.Warnings[0].Error(), "pay.cue:3:") || !strings.Contains(in.Warnings[0].Msg, "cluster b: tls mode SIMPLE") {
		t.Fatalf("warnings %v, want one, of cluster b's override", in.Warnings)
	}
	b, err := json.Marshal(answer{Intents: toWire(in)})
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	got, err := a.result()
	if err != nil {
		t.Fatal(err)
	}
	sameIntents(t, "warnings", in, got)
}
