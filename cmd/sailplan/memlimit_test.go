package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// TestSetMemoryLimit: 90 % of the container's limit, none without one,
// and GOMEMLIMIT wins.
func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("GOMEMLIMIT", "")
	for _, tt := range []struct {
		file string
		want int64
		err  string
	}{
		{write("limit", "268435456\n"), 241591910, ""},
		{write("max", "max\n"), 0, ""},
		{filepath.Join(dir, "none"), 0, ""},
		{write("lots", "lots\n"), 0, filepath.Join(dir, "lots") + `: "lots" is not a number of bytes`},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		got, err := setMemoryLimit(tt.file)
		if (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("%s: error %v, want %q", tt.file, err, tt.err)
		}
		if got != tt.want {
			t.Errorf("%s: limit %d, want %d", tt.file, got, tt.want)
		}
		if want := tt.want; want > 0 && debug.SetMemoryLimit(-1) != want {
			t.Errorf("%s: runtime limit %d, want %d", tt.file, debug.SetMemoryLimit(-1), want)
		}
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got, _ := setMemoryLimit(write("limit", "268435456\n")); got != 0 {
		t.Errorf("with GOMEMLIMIT set: limit %d, want 0 (the operator's wins)", got)
	}
}
