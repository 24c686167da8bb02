package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiffApplyStatus drives the cluster commands against a real cluster:
// diff shows what apply would do (exit 1), apply does it, diff then finds
// nothing (exit 0), status reports the commit, and a broken directory is
// exit 2 for diff.
func TestDiffApplyStatus(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	dir := t.TempDir()
	intents := fmt.Sprintf(`package intents

fleet: clusters: c1: {}

services: reviews: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: 90, v2: 10}}]
}
`, ns)
	if err := os.WriteFile(filepath.Join(dir, "reviews.cue"), []byte(intents), 0o644); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := sailplan(t, "diff", dir, "--context", "c1")
	if code != 1 || !strings.Contains(out, "VirtualService/"+ns+"/reviews") {
		t.Fatalf("diff before apply: exit %d, stdout\n%s\nstderr %s\nwant exit 1 and the VirtualService to create", code, out, stderr)
	}

	out, stderr, code = sailplan(t, "apply", dir, "--commit", "abc1234")
	if code != 0 {
		t.Fatalf("apply: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}

	out, stderr, code = sailplan(t, "diff", dir, "--context", "c1")
	if code != 0 {
		t.Errorf("diff after apply: exit %d, stdout\n%s\nstderr %s\nwant exit 0 and no changes", code, out, stderr)
	}

	out, stderr, code = sailplan(t, "status", "--context", "c1")
	if code != 0 || !strings.Contains(out, "c1") || !strings.Contains(out, "abc1234") {
		t.Errorf("status: exit %d, stdout\n%s\nstderr %s\nwant c1 at commit abc1234", code, out, stderr)
	}

	broken := filepath.Join(t.TempDir(), "broken.cue")
	if err := os.WriteFile(broken, []byte("package intents\nservices: {"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = sailplan(t, "diff", filepath.Dir(broken), "--context", "c1")
	if code != 2 || !strings.Contains(stderr, "broken.cue:2:") {
		t.Errorf("diff of a broken directory: exit %d, stderr %q; want exit 2 naming broken.cue:2", code, stderr)
	}
}
