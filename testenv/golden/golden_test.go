package golden

import (
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what a check said instead of
// failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, strings.TrimSpace(format))
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.txt")
	t.Setenv("UPDATE_GOLDEN", "1")
	File(t, path, []byte("one\n"))
	t.Setenv("UPDATE_GOLDEN", "")
	File(t, path, []byte("one\n"))
	r := &recorder{TB: t}
	File(r, path, []byte("two\n"))
	if len(r.errors) != 1 || r.errors[0] != "%s (-want +got):\n%s" {
		t.Errorf("a differing output: %q, want one (-want +got) diff", r.errors)
	}
}
