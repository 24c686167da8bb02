package golden

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Update says whether this run rewrites the golden files: UPDATE_GOLDEN set
// to anything.
func Update() bool { return os.Getenv("UPDATE_GOLDEN") != "" }

// File compares got with the file at path, and fails the test with a
// (-want +got) diff when they differ. With UPDATE_GOLDEN set it first
// writes got there, making the folders it needs.
func File(t testing.TB, path string, got []byte) {
	t.Helper()
	if Update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
