package explain

import "testing"

func TestTriLogic(t *testing.T) {
	all := []Tri{No, Unknown, Yes}
	for _, a := range all {
		for _, b := range all {
			// Kleene's tables: the conjunction is known false as soon as
			// one side is, the disjunction known true as soon as one is.
			wantAnd, wantOr := Unknown, Unknown
			if a == No || b == No {
				wantAnd = No
			} else if a == Yes && b == Yes {
				wantAnd = Yes
			}
			if a == Yes || b == Yes {
				wantOr = Yes
			} else if a == No && b == No {
				wantOr = No
			}
			if got := a.and(b); got != wantAnd {
				t.Errorf("%v and %v = %v, want %v", a, b, got, wantAnd)
			}
			if got := a.or(b); got != wantOr {
				t.Errorf("%v or %v = %v, want %v", a, b, got, wantOr)
			}
		}
	}
	if No.not() != Yes || Yes.not() != No || Unknown.not() != Unknown {
		t.Error("not: want yes<->no and unknown kept")
	}
}
