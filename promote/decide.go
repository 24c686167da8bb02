package promote

import (
	"errors"
	"fmt"
	"time"
)

// ErrStale is a decision about a step the promotion is not waiting for: a
// second click, or a click on a step that has moved on. It is answered,
// never applied, and retrying it cannot help.
var ErrStale = errors.New("the promotion is not waiting for this decision")

// Decide records an approver's answer for the step the promotion waits
// for. weight names the step the approver saw; 0 means the one it waits
// for now. Approval lets the next Advance take the step; rejection rolls
// back at once.
func (s *State) Decide(approved bool, weight int, by string, now time.Time) (*Event, error) {
	if s.Phase != WaitingForApproval {
		return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
	}
	next := s.Waves[0].Step + 1
	if next >= len(s.Steps) {
		return nil, fmt.Errorf("%s: no step left, %w", s.Service, ErrStale)
	}
	want := s.Steps[next]
	if weight != 0 && weight != want {
		return nil, fmt.Errorf("%s: waiting for the step to %d%%, not %d%%: %w", s.Service, want, weight, ErrStale)
	}
	s.Decisions = append(s.Decisions, Decision{Weight: want, Approved: approved, By: by, At: now})
	if !approved {
		return s.rollBack(now, RolledBack, fmt.Sprintf("step to %d%% rejected by %s", want, by), by), nil
	}
	s.Phase, s.Reason = Progressing, ""
	return s.event(now, Event{Phase: Progressing, Wave: s.Waves[0].Wave, Weight: want, By: by,
		Message: fmt.Sprintf("step to %d%% approved by %s", want, by)}), nil
}

// Pause stops the promotion where it is; weights stay.
func (s *State) Pause(by string, now time.Time) (*Event, error) {
	if s.Phase.Done() || s.Phase == Paused {
		return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
	}
	s.Phase, s.Reason = Paused, "paused by "+by
	return s.event(now, Event{Phase: Paused, Message: s.Reason, By: by}), nil
}

// Resume continues a paused promotion.
func (s *State) Resume(by string, now time.Time) (*Event, error) {
	if s.Phase != Paused {
		return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
	}
	s.Phase, s.Reason = Progressing, ""
	return s.event(now, Event{Phase: Progressing, Message: "resumed by " + by, By: by}), nil
}

// Abort ends the promotion and sends all traffic back to stable.
func (s *State) Abort(by string, now time.Time) (*Event, error) {
	if s.Phase.Done() {
		return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
	}
	return s.rollBack(now, Aborted, "aborted by "+by, by), nil
}

// Retry starts a rolled-back or aborted promotion again from the first step.
func (s *State) Retry(by string, now time.Time) (*Event, error) {
	if s.Phase != RolledBack && s.Phase != Aborted {
		return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
	}
	for i := range s.Waves {
		s.Waves[i] = Wave{Wave: s.Waves[i].Wave, Step: -1, Since: now}
	}
	s.Failures, s.Decisions = 0, nil
	s.Phase, s.Reason = Progressing, ""
	return s.event(now, Event{Phase: Progressing, Message: "retried by " + by, By: by}), nil
}
