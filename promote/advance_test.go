package promote

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// before is a start an interval (10 minutes, as service makes it) before
// t0, so that the first step is due at t0.
var before = t0.Add(-10 * time.Minute)

func service(plan schema.Canary) *schema.Service {
	if plan.Every == 0 {
		plan.Every = 10 * time.Minute
	}
	plan.Stable, plan.Candidate = "v1", "v2"
	if plan.Analysis.FailureLimit == 0 {
		plan.Analysis.FailureLimit = 1
	}
	return &schema.Service{Namespace: "default", Canary: &plan}
}

// take takes a decision from the CLI.
func take(s *State, what string, weight int, by string, now time.Time) (*Event, error) {
	return s.Take(Decision{What: what, Weight: weight, By: by, Via: "cli"}, now)
}

var (
	open = Gate{Open: true, Analysis: Analysis{Verdict: Pass, Summary: "success 100%"}}
)

// weights is what each wave serves.
func weights(s *State) []int {
	var out []int
	for _, w := range s.Waves {
		out = append(out, w.Weight)
	}
	return out
}

// TestHealthyCandidateWalksEveryStepWaveByWave: the first wave takes each
// step, the second follows one interval later, then the candidate is
// promoted.
func TestHealthyCandidateWalksEveryStepWaveByWave(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 50, 100}})
	s := NewState("reviews", svc, []int{1, 2}, t0)
	var got [][]int
	now := t0
	for i := 0; i < 20 && !s.Phase.Done(); i++ {
		if e := s.Advance(svc.Canary, now, open); e != nil {
			got = append(got, weights(s))
		}
		now = now.Add(5 * time.Minute)
	}
	want := [][]int{
		{10, 0}, {10, 10}, {50, 10}, {50, 50}, {100, 50}, {100, 100}, {100, 100},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("weights after each transition (-want +got):\n%s", diff)
	}
	if s.Phase != Promoted {
		t.Errorf("phase = %s, want Promoted", s.Phase)
	}
}

func TestFailedAnalysisRollsBackEverywhere(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 50, 100}, Analysis: schema.Analysis{FailureLimit: 2}})
	s := NewState("reviews", svc, []int{1, 2}, before)
	now := t0
	for _, w := range [][]int{{10, 0}, {10, 10}} {
		s.Advance(svc.Canary, now, open)
		now = now.Add(10 * time.Minute)
		if diff := cmp.Diff(w, weights(s)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	}
	bad := Gate{Open: true, Analysis: Analysis{Verdict: Fail, Summary: "success rate 97.00% < 99.90%"}}
	if e := s.Advance(svc.Canary, now, bad); e != nil || s.Failures != 1 {
		t.Fatalf("first failure: event %v, failures %d; want a hold and 1", e, s.Failures)
	}
	e := s.Advance(svc.Canary, now.Add(time.Minute), bad)
	if e == nil || s.Phase != RolledBack || s.Reason != "analysis failed: success rate 97.00% < 99.90%" {
		t.Fatalf("second failure: event %v, phase %s, reason %q", e, s.Phase, s.Reason)
	}
	if diff := cmp.Diff([]int{0, 0}, weights(s)); diff != "" {
		t.Errorf("weights after rollback (-want +got):\n%s", diff)
	}
	if e := s.Advance(svc.Canary, now.Add(time.Hour), open); e != nil {
		t.Errorf("a rolled-back promotion advanced: %v", e)
	}
}

// TestHolds: no data, too little traffic, and a closed window each hold
// the step; none of them ever counts as a pass.
func TestHolds(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 100}})
	for _, g := range []Gate{
		{Open: true, Analysis: Analysis{Verdict: Inconclusive, Summary: "12 requests < 200"}},
		{Open: true, Analysis: Analysis{Verdict: Unavailable, Summary: "prometheus: connection refused"}},
		{Open: false, Closed: "outside the window", Analysis: open.Analysis},
	} {
		s := NewState("reviews", svc, []int{1}, before)
		s.Advance(svc.Canary, t0, open)
		for i := 1; i <= 5; i++ {
			if e := s.Advance(svc.Canary, t0.Add(time.Duration(i)*time.Hour), g); e != nil {
				t.Errorf("%+v: advanced: %v", g, e)
			}
		}
		if diff := cmp.Diff([]int{10}, weights(s)); diff != "" || s.Failures != 0 {
			t.Errorf("%+v: weights (-want +got):\n%s failures %d", g, diff, s.Failures)
		}
		if s.Reason == "" {
			t.Errorf("%+v: no reason for holding", g)
		}
	}
	// A closed window also keeps the first step from being taken.
	s := NewState("reviews", svc, []int{1}, t0)
	if e := s.Advance(svc.Canary, t0, Gate{Open: false, Closed: "outside the window"}); e != nil || s.Reason != "schedule: outside the window" {
		t.Errorf("first step outside the window: %v, reason %q", e, s.Reason)
	}
}

func TestApprovals(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 50, 100}, Approval: &schema.Approval{AtWeights: []int{50}}})
	s := NewState("reviews", svc, []int{1}, before)
	s.Advance(svc.Canary, t0, open) // 10%
	e := s.Advance(svc.Canary, t0.Add(10*time.Minute), open)
	if e == nil || s.Phase != WaitingForApproval || weights(s)[0] != 10 {
		t.Fatalf("at the 50%% step: event %v, phase %s, weights %v; want to wait at 10%%", e, s.Phase, weights(s))
	}
	if e := s.Advance(svc.Canary, t0.Add(20*time.Minute), open); e != nil {
		t.Errorf("waiting for approval, advanced: %v", e)
	}
	if _, err := take(s, notify.DecisionApprove, 100, "U1", t0); !errors.Is(err, ErrStale) {
		t.Errorf("approving the wrong step: %v, want ErrStale", err)
	}
	if _, err := take(s, notify.DecisionApprove, 50, "U1", t0.Add(21*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := take(s, notify.DecisionApprove, 50, "U2", t0.Add(21*time.Minute)); !errors.Is(err, ErrStale) {
		t.Errorf("a second click: %v, want ErrStale", err)
	}
	s.Advance(svc.Canary, t0.Add(22*time.Minute), open)
	if weights(s)[0] != 50 {
		t.Fatalf("after approval: weights %v, want 50", weights(s))
	}

	// Reject rolls back.
	r := NewState("reviews", svc, []int{1}, before)
	r.Advance(svc.Canary, t0, open)
	r.Advance(svc.Canary, t0.Add(10*time.Minute), open)
	if _, err := take(r, notify.DecisionReject, 50, "U9", t0.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r.Phase != RolledBack || weights(r)[0] != 0 || r.Reason != "step to 50% rejected by U9" {
		t.Errorf("after reject: phase %s, weights %v, reason %q", r.Phase, weights(r), r.Reason)
	}
}

func TestPauseResumeAbortRetry(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 100}})
	s := NewState("reviews", svc, []int{1}, before)
	s.Advance(svc.Canary, t0, open)
	if _, err := take(s, notify.DecisionPause, 0, "alice", t0); err != nil {
		t.Fatal(err)
	}
	if e := s.Advance(svc.Canary, t0.Add(time.Hour), open); e != nil {
		t.Errorf("paused, advanced: %v", e)
	}
	if _, err := take(s, notify.DecisionResume, 0, "alice", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := take(s, notify.DecisionAbort, 0, "bob", t0); err != nil || s.Phase != Aborted || weights(s)[0] != 0 {
		t.Fatalf("abort: %v, phase %s, weights %v", err, s.Phase, weights(s))
	}
	if _, err := take(s, notify.DecisionResume, 0, "alice", t0); !errors.Is(err, ErrStale) {
		t.Errorf("resume after abort: %v, want ErrStale", err)
	}
	if _, err := take(s, notify.DecisionRetry, 0, "bob", t0); err != nil || s.Phase != Progressing {
		t.Fatalf("retry: %v, phase %s", err, s.Phase)
	}
	if s.Advance(svc.Canary, t0.Add(time.Minute), open); weights(s)[0] != 0 {
		t.Errorf("a minute after retry: weights %v, want the first step an interval after it", weights(s))
	}
	if s.Advance(svc.Canary, t0.Add(10*time.Minute), open); weights(s)[0] != 10 {
		t.Errorf("an interval after retry: weights %v, want the first step again", weights(s))
	}
}

// TestPromotes: only the candidate and the stable version name a
// promotion; any other change to the plan is an amendment of it.
func TestPromotes(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 100}})
	s := NewState("reviews", svc, []int{1}, t0)
	next := service(schema.Canary{Steps: []int{10, 100}})
	next.Canary.Candidate = "v3"
	stable := service(schema.Canary{Steps: []int{10, 100}})
	stable.Canary.Stable = "v0"
	changed := service(schema.Canary{Steps: []int{20, 100}, Every: time.Minute})
	if !s.Promotes(svc.Canary) || !s.Promotes(changed.Canary) {
		t.Error("a state does not promote its own candidate under the same or a changed plan")
	}
	if s.Promotes(next.Canary) || s.Promotes(stable.Canary) || s.Promotes(nil) {
		t.Error("a state promotes another candidate or from another stable version")
	}
}

// TestFirstStep: the first step is taken an interval after the start, not
// at the first look, and says so meanwhile; it needs no analysis (there is
// no traffic of the candidate to judge). An approval the plan asks for at
// the first weight is asked for at once, and the step taken once given.
func TestFirstStep(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 50, 100}})
	s := NewState("reviews", svc, []int{1, 2}, t0)
	blind := Gate{Open: true}
	if e := s.Advance(svc.Canary, t0.Add(9*time.Minute), blind); e != nil || weights(s)[0] != 0 {
		t.Fatalf("before an interval: %v, weights %v", e, weights(s))
	}
	if want := "first step, to 10%, at 2026-11-23T09:10:00Z: an interval (10m0s) after the start"; s.Reason != want {
		t.Errorf("reason %q, want %q", s.Reason, want)
	}
	if e := s.Advance(svc.Canary, t0.Add(10*time.Minute), blind); e == nil || !cmp.Equal(weights(s), []int{10, 0}) || s.Reason != "" {
		t.Fatalf("after an interval: %v, weights %v, reason %q; want 10 in the first wave only", e, weights(s), s.Reason)
	}

	asked := service(schema.Canary{Steps: []int{10, 50, 100}, Approval: &schema.Approval{AtWeights: []int{10}}})
	a := NewState("reviews", asked, []int{1}, t0)
	if e := a.Advance(asked.Canary, t0, blind); e == nil || a.Phase != WaitingForApproval {
		t.Fatalf("approval at the first step: %v, phase %s; want it asked at once", e, a.Phase)
	}
	if _, err := take(a, notify.DecisionApprove, 10, "alice", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a.Advance(asked.Canary, t0.Add(2*time.Minute), blind); weights(a)[0] != 10 {
		t.Errorf("approved first step: weights %v, want 10 at the next look", weights(a))
	}
}
