package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// goldenCommit stands in for a Git commit in golden files.
const goldenCommit = "0123456789abcdef0123456789abcdef01234567"

// TestGolden renders every testdata input and every example and compares
// the YAML with the checked-in file. UPDATE_GOLDEN=1 rewrites the files.
func TestGolden(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*")
	examples, _ := filepath.Glob("../examples/*")
	ran := 0
	defer func() {
		if ran < 2 {
			t.Errorf("rendered %d inputs; want every testdata input and example", ran)
		}
	}()
	for _, dir := range append(dirs, examples...) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || filepath.Base(dir) == "examples" {
			continue
		}
		ran++
		name := filepath.Base(dir)
		golden := filepath.Join("testdata", name+".golden.yaml")
		if filepath.Dir(filepath.Clean(dir)) != "testdata" {
			golden = filepath.Join("testdata", "examples", name+".golden.yaml")
		}
		t.Run(name, func(t *testing.T) {
			got := renderDir(t, dir)
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func renderDir(t *testing.T, dir string) []byte {
	t.Helper()
	files, err := schema.ReadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := schema.Load(files)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	objs, err := Render(in, Options{Commit: goldenCommit})
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
