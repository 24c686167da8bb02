package schema

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWholeNumbers(t *testing.T) {
	in := &Intents{Services: map[string]*Service{"s": {
		Policy:  Policy{"a": float64(3), "b": 1.5, "c": []any{float64(-2), "x", map[string]any{"d": float64(1 << 40)}}},
		Retries: &Retries{RetryOn: []any{"5xx", float64(503)}},
	}}}
	in.WholeNumbers()
	want := &Intents{Services: map[string]*Service{"s": {
		Policy:  Policy{"a": int64(3), "b": 1.5, "c": []any{int64(-2), "x", map[string]any{"d": int64(1 << 40)}}},
		Retries: &Retries{RetryOn: []any{"5xx", int64(503)}},
	}}}
	if diff := cmp.Diff(want, in, cmp.AllowUnexported(Intents{})); diff != "" {
		t.Errorf("whole numbers (-want +got):\n%s", diff)
	}
}
