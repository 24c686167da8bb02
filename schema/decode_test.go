package schema

import (
	"context"
	"path/filepath"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestDecodeMatchesCUE: decodeValue gives exactly what CUE's Decode gives,
// on every example and every repository of render's golden tests, for the
// shared intents and every cluster's view.
func TestDecodeMatchesCUE(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	more, _ := filepath.Glob("../render/testdata/*")
	dirs = append(dirs, more...)
	tested := 0
	for _, dir := range dirs {
		files, err := ReadDir(context.Background(), dir)
		if err != nil || len(files) == 0 {
			continue
		}
		tested++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b := &builder{ctx: cuecontext.New(), files: files}
			if _, err := b.load(); err != nil {
				t.Fatalf("loading: %v", err)
			}
			values := map[string]cue.Value{"shared": b.root}
			clusters, _ := b.user.LookupPath(cue.ParsePath("fleet.clusters")).Fields()
			for clusters != nil && clusters.Next() {
				if ov := clusters.Value().LookupPath(cue.ParsePath("overrides")); ov.Exists() {
					values[clusters.Selector().Unquoted()] = b.root.Unify(ov)
				}
			}
			for name, v := range values {
				var want, got Intents
				decodeText = func(v cue.Value, x any) error { return v.Decode(x) }
				err := v.Decode(&want)
				decodeText = decodeValue
				if err != nil {
					t.Fatalf("%s: CUE's Decode: %v", name, err)
				}
				if err := decodeValue(v, &got); err != nil {
					t.Fatalf("%s: decodeValue: %v", name, err)
				}
				if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Intents{})); diff != "" {
					t.Errorf("%s: decodeValue differs from CUE's Decode (-cue +decodeValue):\n%s", name, diff)
				}
			}
		})
	}
	if tested < 8 {
		t.Fatalf("tested %d repositories, want the examples and render's test data", tested)
	}
}
