package promote

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

var amendCommit = notify.Commit{Hash: "0123456789abcdef0123456789abcdef01234567", Author: "Jane"}

// walked is a healthy promotion of fourSteps in waves 1 and 2, advanced an
// interval at a time until every wave serves weight, and the time then.
func walked(t *testing.T, weight int) (*State, time.Time) {
	t.Helper()
	plan := fourSteps().Canary
	s := NewState("reviews", fourSteps(), []int{1, 2}, t0)
	now := s.Started
	for range 50 {
		if ws := weights(s); slices.Max(ws) == weight && slices.Min(ws) == weight {
			return s, now
		}
		now = now.Add(plan.Every)
		s.Advance(plan, now, open)
	}
	t.Fatalf("did not reach %d%% everywhere: %v", weight, weights(s))
	return nil, now
}

// pausedAt is walked, then paused by admin.
func pausedAt(t *testing.T, weight int) (*State, time.Time) {
	t.Helper()
	s, now := walked(t, weight)
	if _, err := take(s, notify.DecisionPause, 0, "admin", now); err != nil {
		t.Fatal(err)
	}
	return s, now
}

func fourSteps() *schema.Service {
	return service(schema.Canary{Steps: []int{10, 30, 60, 100}, Every: 8 * time.Second})
}

// TestTimingEditKeepsAPause: a changed interval amends a paused promotion:
// the same weights, still paused, the history kept with one more entry
// that says what changed and by whom; the same plan again changes nothing.
func TestTimingEditKeepsAPause(t *testing.T) {
	s, now := pausedAt(t, 30)
	history := len(s.History)
	edit := fourSteps()
	edit.Canary.Every = 6 * time.Second
	e := s.Amend(edit.Canary, []int{1, 2}, amendCommit, now.Add(time.Second))
	if e == nil || e.Kind != KindAmended || e.By != "Jane" || e.Via != "git" {
		t.Fatalf("amendment entry %+v, want one by Jane via git", e)
	}
	if want := "plan amended by commit 0123456: every: 8s → 6s; weights and phase kept"; e.Message != want {
		t.Errorf("message %q, want %q", e.Message, want)
	}
	if !cmp.Equal(weights(s), []int{30, 30}) || s.Phase != Paused || s.Reason != "paused by admin" || len(s.History) != history+1 {
		t.Errorf("after the amendment: weights %v, %s (%s), %d entries; want 30 30, Paused by admin, %d", weights(s), s.Phase, s.Reason, len(s.History), history+1)
	}
	if e := s.Amend(edit.Canary, []int{1, 2}, amendCommit, now.Add(2*time.Second)); e != nil {
		t.Errorf("the same plan amended again: %+v", e)
	}
	if _, err := take(s, notify.DecisionResume, 0, "admin", now.Add(3*time.Second)); err != nil {
		t.Errorf("resume after the amendment: %v", err)
	}
}

// TestPromotedKeepsAllTraffic: an edited plan of a promoted candidate
// keeps it at 100 % in every wave, promoted; a wave that joins the fleet
// then serves it at 100 % too.
func TestPromotedKeepsAllTraffic(t *testing.T) {
	s, now := walked(t, 100)
	s.Advance(fourSteps().Canary, now.Add(8*time.Second), open)
	if s.Phase != Promoted {
		t.Fatalf("phase %s, want Promoted", s.Phase)
	}
	edit := service(schema.Canary{Steps: []int{50, 100}, Every: time.Minute})
	if e := s.Amend(edit.Canary, []int{1, 2, 3}, amendCommit, now.Add(time.Hour)); e == nil {
		t.Fatal("no amendment")
	}
	if !cmp.Equal(weights(s), []int{100, 100, 100}) || s.Phase != Promoted {
		t.Errorf("after the amendment: %v, %s; want 100 everywhere, Promoted", weights(s), s.Phase)
	}
	if e := s.Advance(edit.Canary, now.Add(2*time.Hour), open); e != nil {
		t.Errorf("a promoted promotion moved: %+v", e)
	}
}

// TestStepsAmended: changed steps never move traffic. A weight that is no
// longer a step stays, and the next step is the first one above it; with
// fewer steps, the same.
func TestStepsAmended(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []int
		next  int
	}{
		{"30 is no longer a step", []int{10, 50, 100}, 50},
		{"fewer steps, all above", []int{40, 100}, 40},
		{"more steps", []int{5, 10, 20, 30, 35, 100}, 35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, now := walked(t, 30)
			edit := service(schema.Canary{Steps: tc.steps, Every: 8 * time.Second})
			e := s.Amend(edit.Canary, []int{1, 2}, amendCommit, now)
			if e == nil || !cmp.Equal(weights(s), []int{30, 30}) {
				t.Fatalf("amendment %v, weights %v; want 30 30 kept", e, weights(s))
			}
			if !strings.Contains(e.Message, "steps: [10, 30, 60, 100] → ") {
				t.Errorf("message %q does not say the steps changed", e.Message)
			}
			var seen []int
			for i := 1; i <= 40 && s.Phase != Promoted; i++ {
				if e := s.Advance(edit.Canary, now.Add(time.Duration(i)*8*time.Second), open); e != nil && e.Kind == KindStepped {
					seen = append(seen, e.Weight)
				}
			}
			if len(seen) == 0 || seen[0] != tc.next || slices.Min(seen) < 30 {
				t.Errorf("steps taken %v, want the first to %d and none below 30", seen, tc.next)
			}
			if s.Phase != Promoted {
				t.Errorf("phase %s, want the amended plan to reach Promoted", s.Phase)
			}
		})
	}
}

// TestWavesAmended: a wave that joins the fleet starts at 0 and walks up
// behind the wave before it, an interval a step; a wave that leaves is
// dropped; the others keep their weights.
func TestWavesAmended(t *testing.T) {
	svc := fourSteps()
	s, now := walked(t, 30)
	e := s.Amend(svc.Canary, []int{1, 2, 3}, amendCommit, now)
	if e == nil || !strings.Contains(e.Message, "waves: [1 2] → [1 2 3]") || !cmp.Equal(weights(s), []int{30, 30, 0}) {
		t.Fatalf("amendment %v, weights %v; want wave 3 at 0", e, weights(s))
	}
	if e := s.Advance(svc.Canary, now.Add(time.Second), open); e != nil {
		t.Errorf("wave 3 stepped before an interval: %+v", e)
	}
	s.Advance(svc.Canary, now.Add(8*time.Second), open)
	if !cmp.Equal(weights(s), []int{30, 30, 10}) {
		t.Errorf("an interval later: %v, want wave 3 at the first step", weights(s))
	}
	if e := s.Amend(svc.Canary, []int{2, 3}, amendCommit, now.Add(9*time.Second)); e == nil || !cmp.Equal(weights(s), []int{30, 10}) {
		t.Errorf("wave 1 left: %v, weights %v; want 30 10", e, weights(s))
	}
}

// TestApprovalsAmended: an approval added at a step already taken applies
// to none, and says so; one added at the next step is asked for when it is
// due; one removed while waiting ends the wait.
func TestApprovalsAmended(t *testing.T) {
	svc := fourSteps()
	s, now := walked(t, 30)
	asked := fourSteps()
	asked.Canary.Approval = &schema.Approval{AtWeights: []int{10, 60}}
	e := s.Amend(asked.Canary, []int{1, 2}, amendCommit, now)
	if e == nil || !strings.Contains(e.Message, "the step to 10% is already taken: its approval applies to no step") || strings.Contains(e.Message, "60%") {
		t.Fatalf("amendment %+v", e)
	}
	s.Advance(asked.Canary, now.Add(8*time.Second), open)
	if s.Phase != WaitingForApproval || s.Reason != "step to 60% needs an approval" || !cmp.Equal(weights(s), []int{30, 30}) {
		t.Fatalf("at the 60%% step: %s (%s), %v", s.Phase, s.Reason, weights(s))
	}
	e = s.Amend(svc.Canary, []int{1, 2}, amendCommit, now.Add(9*time.Second))
	if e == nil || s.Phase != Progressing || !strings.Contains(e.Message, "no approval is asked for the next step any more") {
		t.Fatalf("approval removed while waiting: %+v, phase %s", e, s.Phase)
	}
	s.Advance(svc.Canary, now.Add(10*time.Second), open)
	if !cmp.Equal(weights(s), []int{60, 30}) {
		t.Errorf("after the wait ended: %v, want the step to 60 taken", weights(s))
	}
}

// TestAmendOldState: a state stored before the plan was kept in it still
// loads and is amended; what changed is told as well as it can be.
func TestAmendOldState(t *testing.T) {
	svc := fourSteps()
	s := NewState("reviews", svc, []int{1}, t0)
	s.Spec = nil
	edit := fourSteps()
	edit.Canary.Every = time.Minute
	if e := s.Amend(edit.Canary, []int{1}, notify.Commit{}, t0); e == nil || e.Message != "plan amended by a commit: the plan; weights and phase kept" {
		t.Errorf("amendment of an old state: %+v", e)
	}
	if s.Spec == nil || s.Plan != planDigest(edit.Canary) {
		t.Error("the amended state does not keep the plan it follows")
	}
}

// everyPlan is the plan: four steps, an interval of every.
func everyPlan(every string) string {
	return `stable: "v1", candidate: "v2", steps: [10, 30, 60, 100], every: "` + every + `"`
}

// TestPlanCommitKeepsThePause: with the candidate paused at 30 % in both
// waves, a commit that changes only every amends the promotion: the
// clusters keep 70/30 at every look, it stays paused, status still says
// who paused it, the amendment is in the history and on the bus once, and
// resume carries on from 30 %. A later commit whose steps no longer have
// 30 never takes traffic below it either.
func TestPlanCommitKeepsThePause(t *testing.T) {
	m, p := realAnalysis(t)
	r := newFleetRig(t, p)
	m.Set(testenv.Workload{Service: "reviews", Namespace: r.ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, LatencyMS: 20})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "reviews.cue": planCUE(r.ns, "reviews", everyPlan("8s"))}, "canary v2")
	r.walkUntil("reviews", "30% in every wave", everywhere(30))
	if _, _, err := Decide(t.Context(), r.ctrl.Store, "reviews", Decision{What: notify.DecisionPause, By: "admin", Via: "cli"}, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	amended := collect[notify.PromotionAmended](r)
	r.apply(map[string]string{"reviews.cue": planCUE(r.ns, "reviews", everyPlan("6s"))}, "reviews: every 6s")
	st := r.looks("reviews", 6, [3]int32{30, 30, 30})
	if st.Phase != Paused || st.Reason != "paused by admin" {
		t.Errorf("after the plan commit: %s (%s), want Paused by admin", st.Phase, st.Reason)
	}
	var entries []string
	for _, e := range st.History {
		if e.Kind == KindAmended {
			entries = append(entries, e.Message)
		}
	}
	if len(entries) != 1 || !strings.Contains(entries[0], "every: 8s → 6s; weights and phase kept") {
		t.Errorf("amendments in the history: %q, want one saying every changed", entries)
	}
	if got := amended(); len(got) != 1 || got[0].Promotion.Phase != string(Paused) || got[0].Via != "git" {
		t.Errorf("PromotionAmended on the bus: %+v, want one, of the paused promotion, via git", got)
	}

	if _, _, err := Decide(t.Context(), r.ctrl.Store, "reviews", Decision{What: notify.DecisionResume, By: "admin", Via: "cli"}, r.clock.Now()); err != nil {
		t.Fatalf("resume after the plan commit: %v", err)
	}
	// 30 is no longer a step: the candidate keeps it, then takes 50.
	r.apply(map[string]string{"reviews.cue": planCUE(r.ns, "reviews", `stable: "v1", candidate: "v2", steps: [10, 50, 100], every: "6s"`)}, "reviews: steps 10 50 100")
	seen, st2 := r.walk("reviews", Promoted, RolledBack)
	want := [][3]int32{{50, 30, 30}, {50, 50, 50}, {100, 50, 50}, {100, 100, 100}}
	if diff := cmp.Diff(want, dedupe(seen)); diff != "" || st2.Phase != Promoted {
		t.Errorf("after resume and new steps, %s (-want +got):\n%s", st2.Phase, diff)
	}
}

// TestTimingEditKeepsAPromotedCandidate: a commit that changes only the
// plan of a promoted candidate leaves it at 100 % everywhere, promoted.
func TestTimingEditKeepsAPromotedCandidate(t *testing.T) {
	m, p := realAnalysis(t)
	r := newFleetRig(t, p)
	m.Set(testenv.Workload{Service: "reviews", Namespace: r.ns, Version: "v2"}, testenv.Traffic{PerSecond: 100, LatencyMS: 20})
	r.apply(map[string]string{"fleet.cue": fleetCUE, "reviews.cue": planCUE(r.ns, "reviews", everyPlan("8s"))}, "canary v2")
	r.walk("reviews", Promoted, RolledBack)
	r.apply(map[string]string{"reviews.cue": planCUE(r.ns, "reviews", `stable: "v1", candidate: "v2", steps: [50, 100], every: "1h", window: "* 9-17 * * 1-5"`)}, "reviews: slower")
	st := r.looks("reviews", 4, [3]int32{100, 100, 100})
	if st.Phase != Promoted || st.History[len(st.History)-1].Kind != KindAmended {
		t.Errorf("after the plan commit: %s, last entry %+v; want Promoted, amended", st.Phase, st.History[len(st.History)-1])
	}
}

// dedupe drops repeated weights in a row, and the ones before the first
// change the test cares about (the promotion at 30 %).
func dedupe(seen [][3]int32) [][3]int32 {
	var out [][3]int32
	for _, w := range seen {
		if w == [3]int32{30, 30, 30} || (len(out) > 0 && out[len(out)-1] == w) {
			continue
		}
		out = append(out, w)
	}
	return out
}
