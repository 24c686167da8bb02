package explain

// Tri is a truth value that may be unknown: offline, some facts (the
// labels of a destination's pods, a client's IP address) are not known,
// and a condition on them can be neither confirmed nor ruled out.
type Tri int

const (
	No Tri = iota
	Unknown
	Yes
)

func triOf(b bool) Tri {
	if b {
		return Yes
	}
	return No
}

// and is Kleene's conjunction: No wins, then Unknown.
func (t Tri) and(u Tri) Tri { return min(t, u) }

// or is Kleene's disjunction: Yes wins, then Unknown.
func (t Tri) or(u Tri) Tri { return max(t, u) }

func (t Tri) not() Tri { return Yes - t }

func (t Tri) String() string {
	switch t {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "unknown"
}

// MarshalText writes yes, no or unknown.
func (t Tri) MarshalText() ([]byte, error) { return []byte(t.String()), nil }
