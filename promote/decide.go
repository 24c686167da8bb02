package promote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/util/retry"

	"github.com/sailplan/sailplan/notify"
)

// ErrStale is a decision about a step the promotion is not waiting for: a
// second click, or a click on a step that has moved on. It is answered,
// never applied, and retrying it cannot help.
var ErrStale = errors.New("the promotion is not waiting for this decision")

// Decision is what someone decided about a promotion, from the CLI, a
// Slack button or a page. Every one of them takes the same path, Decide,
// and lands in the promotion's history with who took it and where: the
// audit record, and what the leader publishes for everyone to hear.
type Decision struct {
	// What is notify.DecisionApprove, DecisionReject, DecisionPause,
	// DecisionResume, DecisionAbort or DecisionRetry.
	What string
	// Weight names the step an approval or a rejection is for, as the
	// decider saw it; 0 means the one the promotion waits for now.
	Weight int
	// Candidate, when set, must be the candidate being promoted: a button
	// of an earlier candidate's promotion is stale.
	Candidate string
	// By is who decided; Via is where (cli, slack, page).
	By, Via string
	// Allowed, when set, checks the decider against the promotion, such
	// as Slack's approvers; its error refuses the decision.
	Allowed func(ctx context.Context, st *State) error
}

// Decide is the one path of every decision: it reads the service's
// promotion, checks and takes the decision, and writes it back with the
// version it read. When another writer (the controller's own step,
// another approver) wrote in between, it reads again and decides again,
// which either applies the decision to the same step or finds it stale.
// It returns the promotion as written and the history entry it added.
func Decide(ctx context.Context, store *Store, service string, d Decision, now time.Time) (*State, *Event, error) {
	var st *State
	var e *Event
	err := retry.OnError(retry.DefaultRetry, func(err error) bool { return errors.Is(err, ErrConflict) }, func() error {
		stored, err := store.Get(ctx, service)
		if err != nil {
			return err
		}
		if stored == nil {
			return fmt.Errorf("%s: no promotion has started: %w", service, ErrStale)
		}
		if d.Candidate != "" && stored.Candidate != d.Candidate {
			return fmt.Errorf("%s: now promoting %s, not %s: %w", service, stored.Candidate, d.Candidate, ErrStale)
		}
		if d.Allowed != nil {
			if err := d.Allowed(ctx, stored.State); err != nil {
				return err
			}
		}
		if e, err = stored.Take(d, now); err != nil {
			return err
		}
		if _, err := store.Save(ctx, stored.State, stored.Version); err != nil {
			return err
		}
		st = stored.State
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return st, e, nil
}

// Take applies a decision to the state, purely: the caller stores it.
func (s *State) Take(d Decision, now time.Time) (*Event, error) {
	switch d.What {
	case notify.DecisionApprove, notify.DecisionReject:
		return s.decide(d, now)
	case notify.DecisionPause:
		if s.Phase.Done() || s.Phase == Paused {
			return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
		}
		s.Phase, s.Reason = Paused, "paused by "+d.By
		return s.decided(d, now, Paused, 0, s.Reason), nil
	case notify.DecisionResume:
		if s.Phase != Paused {
			return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
		}
		s.Phase, s.Reason = Progressing, ""
		return s.decided(d, now, Progressing, 0, "resumed by "+d.By), nil
	case notify.DecisionAbort:
		if s.Phase.Done() {
			return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
		}
		return s.rollBack(now, Aborted, Event{Kind: KindDecided, Decision: d.What, By: d.By, Via: d.Via, Message: "aborted by " + d.By}), nil
	case notify.DecisionRetry:
		if s.Phase != RolledBack && s.Phase != Aborted {
			return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
		}
		for i := range s.Waves {
			s.Waves[i] = Wave{Wave: s.Waves[i].Wave, Step: -1, Since: now}
		}
		s.Failures, s.Decisions = 0, nil
		s.Phase, s.Reason = Progressing, ""
		return s.decided(d, now, Progressing, 0, "retried by "+d.By), nil
	}
	return nil, fmt.Errorf("%s: %q is not a decision (approve, reject, pause, resume, abort or retry)", s.Service, d.What)
}

// decide records an approver's answer for the step the promotion waits
// for. Approval lets the next Advance take the step; rejection rolls back
// at once.
func (s *State) decide(d Decision, now time.Time) (*Event, error) {
	if s.Phase != WaitingForApproval {
		return nil, fmt.Errorf("%s: %s, %w", s.Service, s.Phase, ErrStale)
	}
	next := s.Waves[0].Step + 1
	if next >= len(s.Steps) {
		return nil, fmt.Errorf("%s: no step left, %w", s.Service, ErrStale)
	}
	want := s.Steps[next]
	if d.Weight != 0 && d.Weight != want {
		return nil, fmt.Errorf("%s: waiting for the step to %d%%, not %d%%: %w", s.Service, want, d.Weight, ErrStale)
	}
	approved := d.What == notify.DecisionApprove
	s.Decisions = append(s.Decisions, Answer{Weight: want, Approved: approved, By: d.By, Via: d.Via, At: now})
	if !approved {
		return s.rollBack(now, RolledBack, Event{Kind: KindDecided, Decision: d.What, Weight: want, By: d.By, Via: d.Via,
			Message: fmt.Sprintf("step to %d%% rejected by %s", want, d.By)}), nil
	}
	s.Phase, s.Reason = Progressing, ""
	return s.event(now, Event{Kind: KindDecided, Phase: Progressing, Wave: s.Waves[0].Wave, Weight: want,
		Message: fmt.Sprintf("step to %d%% approved by %s", want, d.By), Decision: d.What, By: d.By, Via: d.Via}), nil
}

// decided records a decision in the history.
func (s *State) decided(d Decision, now time.Time, phase Phase, weight int, msg string) *Event {
	return s.event(now, Event{Kind: KindDecided, Phase: phase, Weight: weight, Message: msg, Decision: d.What, By: d.By, Via: d.Via})
}
