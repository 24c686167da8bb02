package promote

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
)

// TestFollow: no promotion yet starts one; the same candidate under a
// changed plan amends it in place; a new candidate starts a new one, at 0.
func TestFollow(t *testing.T) {
	svc := fourSteps()
	st, e := Follow(nil, "reviews", svc, []int{1, 2}, amendCommit, t0)
	if st == nil || e == nil || e.Kind != KindStarted || e.Message != "promotion of v2 started" {
		t.Fatalf("first look: %+v", e)
	}
	if again, e := Follow(st, "reviews", svc, []int{1, 2}, amendCommit, t0); again != st || e != nil {
		t.Errorf("the same plan: %+v, want nothing to do", e)
	}
	st, now := walked(t, 30)
	edit := fourSteps()
	edit.Canary.Analysis.SuccessRate = 99.5
	if amended, e := Follow(st, "reviews", edit, []int{1, 2}, amendCommit, now); amended != st || e == nil || e.Kind != KindAmended {
		t.Errorf("a changed threshold: %+v, want the promotion amended", e)
	}
	next := fourSteps()
	next.Canary.Candidate = "v3"
	fresh, e := Follow(st, "reviews", next, []int{1, 2}, amendCommit, now)
	want := "promotion of v3 started, replacing the promotion of v2 (Progressing; wave 1 at 30%, wave 2 at 30%)"
	if fresh == st || e == nil || e.Message != want || fresh.Phase != Progressing || !cmp.Equal(weights(fresh), []int{0, 0}) {
		t.Errorf("a new candidate: %+v, phase %s, weights %v; want %q at 0", e, fresh.Phase, weights(fresh), want)
	}
	if e.Seq <= st.Seq {
		t.Errorf("the new promotion's entries start at %d, not after the replaced one's %d", e.Seq, st.Seq)
	}
}

// TestPauseCarriesOver: an operator's pause is never dropped by a new
// candidate: the new promotion starts paused, and its history says whose
// pause it is and where it came from.
func TestPauseCarriesOver(t *testing.T) {
	st, now := pausedAt(t, 30)
	next := fourSteps()
	next.Canary.Candidate = "v3"
	fresh, _ := Follow(st, "reviews", next, []int{1, 2}, amendCommit, now.Add(time.Second))
	if fresh.Phase != Paused || fresh.Reason != "paused by admin, carried over from the promotion of v2" {
		t.Fatalf("new promotion: %s (%s), want Paused by admin", fresh.Phase, fresh.Reason)
	}
	var got []string
	for _, e := range fresh.History {
		got = append(got, e.Kind+" "+e.Decision+" "+e.By+" "+e.Via+": "+e.Message)
	}
	want := []string{
		"started   : promotion of v3 started, replacing the promotion of v2 (Paused: paused by admin; wave 1 at 30%, wave 2 at 30%)",
		"decided pause admin cli: paused by admin, carried over from the promotion of v2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history of the new promotion (-want +got):\n%s", diff)
	}
	if e := fresh.Advance(next.Canary, now.Add(time.Hour), open); e != nil {
		t.Errorf("the carried-over pause advanced: %+v", e)
	}
	if _, err := take(fresh, notify.DecisionResume, 0, "admin", now.Add(time.Hour)); err != nil {
		t.Errorf("resume: %v", err)
	}

	// An abort ends the promotion it was about; the next candidate's
	// starts, and its first entry says how the one it replaces ended.
	if _, err := take(fresh, notify.DecisionAbort, 0, "bob", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	third := fourSteps()
	third.Canary.Candidate = "v4"
	last, e := Follow(fresh, "reviews", third, []int{1, 2}, amendCommit, now.Add(2*time.Hour))
	if last.Phase != Progressing || e.Message != "promotion of v4 started, replacing the promotion of v3 (Aborted: aborted by bob; wave 1 at 0%, wave 2 at 0%)" {
		t.Errorf("after an abort: %s, %q", last.Phase, e.Message)
	}
}

// TestPauseInTheSameLookAsACommit: a pause written while the controller
// takes in a plan commit (between its read and its write) is neither lost
// nor applied to a promotion that is gone: the controller's write loses on
// the precondition, and its next look amends the paused promotion. A
// pause racing a new candidate the same way carries over to the new
// promotion, which starts paused, and says so on the bus, with who paused.
func TestPauseInTheSameLookAsACommit(t *testing.T) {
	r := newFleetRig(t, passing{})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "reviews.cue": planCUE(r.ns, "reviews", everyPlan("8s"))}, "canary v2")
	r.walkUntil("reviews", "30% in every wave", everywhere(30))
	pauseOnce := func() {
		r.ctrl.beforeSave = func() {
			r.ctrl.beforeSave = nil
			if _, _, err := Decide(t.Context(), r.ctrl.Store, "reviews", Decision{What: notify.DecisionPause, By: "admin", Via: "cli"}, r.clock.Now()); err != nil {
				t.Errorf("pause: %v", err)
			}
		}
	}

	pauseOnce()
	r.apply(map[string]string{"reviews.cue": planCUE(r.ns, "reviews", everyPlan("6s"))}, "reviews: every 6s")
	st := r.looks("reviews", 4)
	kinds := map[string]int{}
	for _, e := range st.History {
		kinds[e.Kind+" "+e.Decision]++
	}
	if st.Phase != Paused || kinds["amended "] != 1 || kinds["decided pause"] != 1 || r.weights("reviews") != [3]int32{30, 30, 30} {
		t.Fatalf("pause racing a plan commit: %s, entries %v, weights %v; want Paused, amended once, paused once, 30 everywhere",
			st.Phase, kinds, r.weights("reviews"))
	}

	// Resume, then the same race with a new candidate.
	if _, _, err := Decide(t.Context(), r.ctrl.Store, "reviews", Decision{What: notify.DecisionResume, By: "admin", Via: "cli"}, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	decided := collect[notify.PromotionDecided](r)
	pauseOnce()
	r.apply(map[string]string{"reviews.cue": planCUE(r.ns, "reviews", `stable: "v1", candidate: "v3", steps: [10, 30, 60, 100], every: "6s"`)}, "reviews: canary v3")
	st = r.looks("reviews", 4)
	if st.Candidate != "v3" || st.Phase != Paused || st.Reason != "paused by admin, carried over from the promotion of v2" || !cmp.Equal(weights(st), []int{0, 0}) {
		t.Fatalf("pause racing a new candidate: %s %s (%s) at %v; want v3 paused by admin at 0", st.Candidate, st.Phase, st.Reason, weights(st))
	}
	if got := env.Weights(t, r.ns, "reviews", "v3"); !slices.Equal(got, []int32{0, 0, 0}) {
		t.Errorf("v3 in the clusters: %v, want 0 everywhere while paused", got)
	}
	var pauses []string
	for _, d := range decided() {
		if d.Decision != notify.DecisionPause {
			continue
		}
		pauses = append(pauses, d.Promotion.Candidate+": "+d.Message+" by "+d.By+" via "+d.Via)
	}
	want := []string{
		"v2: paused by admin by admin via cli",
		"v3: paused by admin, carried over from the promotion of v2 by admin via cli",
	}
	if diff := cmp.Diff(want, pauses); diff != "" {
		t.Errorf("pauses on the bus (-want +got):\n%s", diff)
	}
}
