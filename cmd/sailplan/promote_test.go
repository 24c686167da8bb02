package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/promote"
)

// TestPromoteStatusShowsWriteBack: `sailplan promote status SERVICE` says
// where a promotion was written back, in its reason and its history, or
// why it was not and what to do.
func TestPromoteStatusShowsWriteBack(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 1, 20, 0, time.UTC)
	st := &promote.State{Service: "reviews", Stable: "v1", Candidate: "v2", Phase: promote.Promoted,
		Waves: []promote.Wave{{Wave: 1, Step: 1, Weight: 100}}}
	if _, err := st.WrittenBack(promote.WriteBack{Reason: "the server refused the push to main: pre-receive hook declined; make v2 stable in Git by hand"}, at); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := printPromotions(&out, []*promote.Stored{{State: st}}, []string{"reviews"}); err != nil {
		t.Fatal(err)
	}
	want := `SERVICE  CANDIDATE     PHASE     WEIGHTS BY WAVE  REASON
reviews  v2 (from v1)  Promoted  1:100%           v2 serves all traffic in every wave; not written back: the server refused the push to main: pre-receive hook declined; make v2 stable in Git by hand

HISTORY
2026-12-01T10:01:20Z  Promoted           the server refused the push to main: pre-receive hook declined; make v2 stable in Git by hand
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
