package writeback

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv/golden"
)

// TestEditKeepsTheFile: the edit changes the stable version's string and
// takes the candidate's lines out, with the comments about it, and no
// other byte: the hand-made alignment and the other comments stay.
func TestEditKeepsTheFile(t *testing.T) {
	src, err := os.ReadFile("testdata/commented.cue")
	if err != nil {
		t.Fatal(err)
	}
	files := schema.Files{"commented.cue": src, "fleet.cue": []byte("package intents\n\nfleet: clusters: c1: wave: 1\n")}
	name, out, err := Edit(files, "recommendation-service", "v1", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if name != "commented.cue" {
		t.Errorf("edited %s, want commented.cue", name)
	}
	golden.File(t, filepath.Join("testdata", "commented.cue.golden"), out)
	files[name] = out
	in, err := schema.Load(files)
	if err != nil {
		t.Fatalf("the edited file does not load: %v", err)
	}
	if c := in.Services["recommendation-service"].Canary; !c.AtRest() || c.Stable != "v2" {
		t.Errorf("canary after the edit: %+v, want at rest with v2 stable", c)
	}
}

// TestEditOnOneLine: stable and candidate sharing a line, in either order.
func TestEditOnOneLine(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"candidate after stable",
			"services: a: canary: {\n\tstable: \"v1\", candidate: \"v2\"\n\tsteps: [100]\n}\n",
			"services: a: canary: {\n\tstable: \"v2\"\n\tsteps: [100]\n}\n"},
		{"candidate first",
			"services: a: canary: {candidate: \"v2\", stable: \"v1\", steps: [100]}\n",
			"services: a: canary: {stable: \"v2\", steps: [100]}\n"},
		{"candidate last, on the struct's line",
			"services: a: canary: {steps: [100], stable: \"v1\", candidate: \"v2\"}\n",
			"services: a: canary: {steps: [100], stable: \"v2\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, err := Edit(schema.Files{"a.cue": []byte(tt.src)}, "a", "v1", "v2")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestEditRefuses: what the edit cannot see through it does not touch,
// and says where to look.
func TestEditRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files schema.Files
		want  string
	}{
		{"a comprehension could declare it",
			schema.Files{"a.cue": []byte("services: a: canary: {stable: \"v1\", candidate: \"v2\"}\nfor n in [\"a\"] {services: (n): {}}\n")},
			"services.a.canary: a comprehension in the top level (a.cue:2:1) could declare it too, and sailplan does not edit what it cannot see"},
		{"a pattern could declare it",
			schema.Files{"a.cue": []byte("services: [string]: {}\nservices: a: canary: {stable: \"v1\", candidate: \"v2\"}\n")},
			"services.a.canary: a pattern or computed field in services (a.cue:1:11) could declare it too, and sailplan does not edit what it cannot see"},
		{"the candidate is a reference",
			schema.Files{"a.cue": []byte("_next: \"v2\"\nservices: a: canary: {stable: \"v1\", candidate: _next}\n")},
			"services.a.canary: candidate is not a plain string field (a.cue:2:37)"},
		{"declared in two files",
			schema.Files{"a.cue": []byte("services: a: canary: {stable: \"v1\", candidate: \"v2\"}\n"), "b.cue": []byte("services: a: canary: candidate: \"v2\"\n")},
			"services.a.canary.candidate: declared in several places (a.cue:1:37, b.cue:1:22)"},
		{"Git names another stable version",
			schema.Files{"a.cue": []byte("services: a: canary: {stable: \"v0\", candidate: \"v2\"}\n")},
			"services.a.canary.stable: a.cue names \"v0\", not \"v1\" (a.cue:1:23)"},
		{"no candidate left to make stable",
			schema.Files{"a.cue": []byte("services: a: canary: {stable: \"v2\"}\n")},
			"services.a.canary: stable and candidate are not both fields of a struct {...} in the files (a reference or a template declares them)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Edit(tt.files, "a", "v1", "v2")
			var unsafe *UnsafeError
			if !errors.As(err, &unsafe) {
				t.Fatalf("error %v, want an *UnsafeError", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
