package render

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv/golden"
)

// goldenCommit stands in for a Git commit in golden files.
const goldenCommit = "0123456789abcdef0123456789abcdef01234567"

// goldenInputs are the directories of every testdata input and every
// example, each with its golden file.
func goldenInputs(t *testing.T) map[string]string {
	t.Helper()
	dirs, _ := filepath.Glob("testdata/*")
	examples, _ := filepath.Glob("../examples/*")
	out := map[string]string{}
	for _, dir := range append(dirs, examples...) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || filepath.Base(dir) == "examples" {
			continue
		}
		golden := filepath.Join("testdata", filepath.Base(dir)+".golden.yaml")
		if filepath.Dir(filepath.Clean(dir)) != "testdata" {
			golden = filepath.Join("testdata", "examples", filepath.Base(dir)+".golden.yaml")
		}
		out[dir] = golden
	}
	if len(out) < 2 {
		t.Fatalf("found %d inputs; want every testdata input and example", len(out))
	}
	return out
}

// TestGolden renders every testdata input and every example and compares
// the YAML with the checked-in file. UPDATE_GOLDEN=1 rewrites the files.
func TestGolden(t *testing.T) {
	for dir, goldenPath := range goldenInputs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := renderDir(t, dir)
			golden.File(t, goldenPath, got)
		})
	}
}

func loadDir(t *testing.T, dir string) *schema.Intents {
	t.Helper()
	files, err := schema.ReadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return in
}

func renderDir(t *testing.T, dir string) []byte {
	t.Helper()
	in := loadDir(t, dir)
	b := renderYAML(t, in, Options{Commit: goldenCommit})
	// Clusters with overrides see other objects: their renders follow.
	for _, name := range slices.Sorted(maps.Keys(in.Fleet.Clusters)) {
		if in.Fleet.Clusters[name].HasOverrides {
			b = append(b, "# cluster: "+name+"\n"...)
			b = append(b, renderYAML(t, in, Options{Commit: goldenCommit, Cluster: name})...)
		}
	}
	return b
}

func renderYAML(t *testing.T, in *schema.Intents, opts Options) []byte {
	t.Helper()
	objs, err := Render(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(objs, "yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeterministic renders the same intents many times, each from a fresh
// load, and wants the same bytes every time in both formats.
func TestDeterministic(t *testing.T) {
	first := renderDir(t, "testdata/header-match")
	for i := 0; i < 20; i++ {
		if got := renderDir(t, "testdata/header-match"); !bytes.Equal(first, got) {
			t.Fatalf("render %d differs:\n%s", i, cmp.Diff(string(first), string(got)))
		}
	}
}

func TestRenderUnknownCluster(t *testing.T) {
	files, err := schema.ReadDir(context.Background(), "../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Render(in, Options{Cluster: "nope"})
	if want := `cluster "nope" is not in the fleet`; err == nil || err.Error() != want {
		t.Fatalf("Render error = %v, want %q", err, want)
	}
}

func TestEncodeJSON(t *testing.T) {
	files, err := schema.ReadDir(context.Background(), "../examples/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(in, Options{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(objs, "json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"kind": "List"`)) || !bytes.Contains(b, []byte(`"subset": "v2"`)) {
		t.Errorf("json output lacks the list or the v2 subset:\n%s", b)
	}
	if _, err := Encode(objs, "toml"); err == nil {
		t.Error("Encode toml succeeded, want an error")
	}
}

// TestCanaryWeights: the canary's route follows the promotion state of the
// cluster, and only for the candidate the intent names.
func TestCanaryWeights(t *testing.T) {
	files, err := schema.ReadDir(context.Background(), "../examples/header-canary")
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		state  map[string]CanaryState
		v1, v2 int32
	}{
		{"no promotion yet: the candidate gets nothing", nil, 100, 0},
		{"seed scenario 4: the first step", map[string]CanaryState{"recommendation-service": {Candidate: "v2", Weight: 5}}, 95, 5},
		{"half way", map[string]CanaryState{"recommendation-service": {Candidate: "v2", Weight: 50}}, 50, 50},
		{"a state for an older candidate is ignored", map[string]CanaryState{"recommendation-service": {Candidate: "v0", Weight: 50}}, 100, 0},
		{"at rest, after write-back: v2 is stable and takes the whole split", map[string]CanaryState{"recommendation-service": {Candidate: "v2", Weight: 100}}, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := in
			if strings.HasPrefix(tt.name, "at rest") {
				in = atRest(t, files, "v2")
			}
			objs, err := Render(in, Options{Canaries: tt.state})
			if err != nil {
				t.Fatal(err)
			}
			var got [][2]any
			for _, o := range objs {
				vs, ok := o.(*networkingv1.VirtualService)
				if !ok {
					continue
				}
				last := vs.Spec.Http[len(vs.Spec.Http)-1]
				for _, d := range last.Route {
					got = append(got, [2]any{d.Destination.Subset, d.Weight})
				}
				if first := vs.Spec.Http[1].Route; first[0].Weight != 70 || first[1].Weight != 30 {
					t.Errorf("the premium route moved: %v", first)
				}
			}
			var want [][2]any // a version at 0 is left out of the route
			for _, d := range [][2]any{{"v1", tt.v1}, {"v2", tt.v2}} {
				if d[1].(int32) > 0 {
					want = append(want, d)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("default route (-want +got):\n%s", diff)
			}
		})
	}
}

// atRest loads files with the canary of recommendation-service at rest,
// stable at version: as write-back leaves it.
func atRest(t *testing.T, files schema.Files, version string) *schema.Intents {
	t.Helper()
	src := strings.Replace(string(files["recommendation.cue"]), `stable:    "v1"`, `stable:    "`+version+`"`, 1)
	src = strings.Replace(src, "\t\tcandidate: \"v2\"\n", "", 1)
	in, err := schema.Load(schema.Files{"recommendation.cue": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	if c := in.Services["recommendation-service"].Canary; !c.AtRest() || c.Stable != version {
		t.Fatalf("canary %+v, want it at rest with stable %s", c, version)
	}
	return in
}
