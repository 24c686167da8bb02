package sync

import (
	"testing"
	"time"
)

func TestJitter(t *testing.T) {
	const d = 30 * time.Second
	lo, hi := d, d
	for range 2000 {
		j := Jitter(d)
		if j < 27*time.Second || j > 33*time.Second {
			t.Fatalf("Jitter(%s) = %s, outside ±10%%", d, j)
		}
		lo, hi = min(lo, j), max(hi, j)
	}
	// 2000 uniform draws all within 1s of the middle have a chance of about 1e-1100.
	if lo > 29*time.Second || hi < 31*time.Second {
		t.Errorf("Jitter(%s) spans only %s..%s over 2000 draws", d, lo, hi)
	}
	for _, d := range []time.Duration{0, -time.Second, 5} {
		if got := Jitter(d); got != d {
			t.Errorf("Jitter(%s) = %s, want it unchanged", d, got)
		}
	}
}
