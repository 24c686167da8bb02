package schema

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesHaveNoWarnings: every example and every input of render's
// tests loads without a warning, so that --strict passes on what users
// copy.
func TestExamplesHaveNoWarnings(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	more, _ := filepath.Glob("../render/testdata/*")
	checked := 0
	for _, dir := range append(dirs, more...) {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || filepath.Base(dir) == "examples" {
			continue
		}
		files, err := ReadDir(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		in, err := Load(files)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, w := range in.Warnings {
			t.Errorf("%s: %s", dir, w)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("checked %d repositories, want every example and render's inputs", checked)
	}
}
