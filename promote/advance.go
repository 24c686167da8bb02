package promote

import (
	"fmt"
	"slices"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// Verdict is the outcome of a step's analysis.
type Verdict string

const (
	Pass         Verdict = notify.Pass
	Fail         Verdict = notify.Fail
	Inconclusive Verdict = notify.Inconclusive // too little traffic: never a pass
	Unavailable  Verdict = notify.Unavailable  // no data (Prometheus down): never a pass
)

// Analysis is a verdict with what it was based on.
type Analysis struct {
	Verdict Verdict
	// Summary says what was measured, or why nothing was.
	Summary string
	// Checks are the measurements against their thresholds.
	Checks []notify.Check
}

// Gate is what a step's advance depends on besides the plan and the time.
type Gate struct {
	// Open and Closed say whether the schedule lets steps advance now.
	Open   bool
	Closed string
	// Analysis of the candidate over the last interval; only consulted
	// while the candidate takes traffic somewhere.
	Analysis Analysis
}

// Advance takes at most one transition of the promotion at now, and
// returns the event it recorded (nil when nothing changed). It is pure:
// the caller stores the state with a precondition, so a transition is
// taken once even with two replicas.
//
// The first wave takes each step when it has held the one before for the
// plan's interval (the first step: an interval after the promotion
// started), the schedule is open, the analysis passed and, where the plan
// asks, an approver said yes. A later wave takes a step when the wave
// before it has held that step for an interval, and it has held its own,
// with analysis passing. A failed analysis counts towards the failure
// limit, which rolls every wave back to 0 at once.
//
// The first step is taken without analysis, as there is no traffic of the
// candidate to judge yet; what protects it is the wait of an interval, in
// which people can pause or abort, the smallest weight in the first wave
// only, an approval where the plan asks for one at that weight (asked at
// once, and then taken at once), and the analysis of every later look.
func (s *State) Advance(plan *schema.Canary, now time.Time, g Gate) *Event {
	if s.Phase.Done() || s.Phase == Paused {
		return nil
	}
	every := plan.Every
	if s.serving() {
		switch g.Analysis.Verdict {
		case Fail:
			s.Failures++
			if s.Failures >= max(plan.Analysis.FailureLimit, 1) {
				return s.rollBack(now, RolledBack, Event{Kind: KindRolledBack, Message: "analysis failed: " + g.Analysis.Summary})
			}
			return s.hold(now, fmt.Sprintf("analysis failed (%d of %d): %s", s.Failures, max(plan.Analysis.FailureLimit, 1), g.Analysis.Summary))
		case Pass:
			s.Failures = 0
		default:
			return s.hold(now, fmt.Sprintf("analysis %s: %s", g.Analysis.Verdict, g.Analysis.Summary))
		}
	}
	if !g.Open {
		return s.hold(now, "schedule: "+g.Closed)
	}
	// Later waves catch up first, and the first wave waits for them, so
	// the fleet stays close together. A wave also holds its own step for
	// an interval, so that a wave that fell further behind (one that
	// joined the fleet, or steps that changed) walks up rather than jumps.
	for k := 1; k < len(s.Waves); k++ {
		w, prev := s.Waves[k], s.Waves[k-1]
		if w.Step >= prev.Step {
			continue
		}
		if now.Sub(w.Since) >= every && (prev.Step > w.Step+1 || now.Sub(prev.Since) >= every) {
			return s.take(now, k, plan.Steps)
		}
		return s.hold(now, "")
	}
	last := len(plan.Steps) - 1
	lead := &s.Waves[0]
	if lead.Step < last {
		weight := plan.Steps[lead.Step+1]
		held := now.Sub(lead.Since) >= every
		first := lead.Step < 0 && lead.Weight == 0
		if plan.Approval != nil && slices.Contains(plan.Approval.AtWeights, weight) && (held || first) {
			d, ok := s.decision(weight)
			if !ok {
				if s.Phase == WaitingForApproval {
					return nil
				}
				s.Phase, s.Reason = WaitingForApproval, fmt.Sprintf("step to %d%% needs an approval", weight)
				return s.event(now, Event{Kind: KindWaiting, Phase: WaitingForApproval, Wave: lead.Wave, Weight: weight, Message: s.Reason})
			}
			if !d.Approved {
				return s.rollBack(now, RolledBack, Event{Kind: KindRolledBack, Message: fmt.Sprintf("step to %d%% rejected", weight), By: d.By, Via: d.Via})
			}
			return s.take(now, 0, plan.Steps)
		}
		if held {
			return s.take(now, 0, plan.Steps)
		}
		if first {
			return s.hold(now, fmt.Sprintf("first step, to %d%%, at %s: an interval (%s) after the start", weight, lead.Since.Add(every).UTC().Format(time.RFC3339), every))
		}
		return s.hold(now, "")
	}
	if tail := s.Waves[len(s.Waves)-1]; tail.Step == last && now.Sub(tail.Since) >= every {
		s.Phase, s.Reason = Promoted, s.Candidate+" serves all traffic in every wave; make it stable in Git"
		return s.event(now, Event{Kind: KindPromoted, Phase: Promoted, Weight: 100, Message: s.Reason})
	}
	return s.hold(now, "")
}

// serving reports whether the candidate takes traffic in any wave.
func (s *State) serving() bool {
	for _, w := range s.Waves {
		if w.Weight > 0 {
			return true
		}
	}
	return false
}

// take moves wave k to its next step.
func (s *State) take(now time.Time, k int, steps []int) *Event {
	w := &s.Waves[k]
	w.Step++
	w.Weight, w.Since = steps[w.Step], now
	s.Phase, s.Reason = Progressing, ""
	return s.event(now, Event{Kind: KindStepped, Phase: Progressing, Wave: w.Wave, Weight: w.Weight,
		Message: fmt.Sprintf("wave %d: %s at %d%%", w.Wave, s.Candidate, w.Weight)})
}

// hold changes nothing but the reason; it returns no event, so holding
// writes nothing unless the reason changed.
func (s *State) hold(now time.Time, reason string) *Event {
	if s.Phase == WaitingForApproval {
		return nil
	}
	s.Reason = reason
	return nil
}

// rollBack sends every wave back to 0 and records e, whose message is
// the reason.
func (s *State) rollBack(now time.Time, phase Phase, e Event) *Event {
	for i := range s.Waves {
		s.Waves[i].Step, s.Waves[i].Weight, s.Waves[i].Since = -1, 0, now
	}
	s.Phase, s.Reason = phase, e.Message
	e.Phase, e.Weight = phase, 0
	return s.event(now, e)
}

func (s *State) event(now time.Time, e Event) *Event {
	e.At = now
	e = s.record(e)
	return &e
}
