package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/sailplan/sailplan/notify"
)

// ErrStale is a decision about a step the promotion is not waiting for: a
// second click, or a click on a step that has moved on. It is answered,
// never applied, and retrying it cannot help. The error says, in the
// decision's words, what was already decided and by whom, or where the
// promotion has moved on to.
var ErrStale = errors.New("the promotion is not waiting for this decision")

// Refusal is a refused decision in its own words, for the person who took
// it: without the marker text that lets callers tell a refusal from a
// failure ("already approved by alice via cli", not "..., the promotion
// is not waiting for this decision").
func Refusal(err error) string {
	s := strings.TrimSuffix(err.Error(), ": "+ErrStale.Error())
	return strings.TrimSuffix(s, ", "+ErrStale.Error())
}

// ErrBusy is a decision that lost the race for the state to other writers
// every time it was tried: nothing was decided, and it may be tried again.
var ErrBusy = errors.New("the promotion kept changing while this decision was taken; nothing was decided, try again")

// decideBackoff spaces the attempts of a decision that lost a race over
// about two and a half seconds, so that it outlasts a burst of writes
// (approvers clicking at once, the controller's own step).
var decideBackoff = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.5, Steps: 8}

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
// It returns the promotion as written and the history entry it added. A
// lost race is never answered with the storage's conflict: the decision
// taken again on the state that won says what happened (ErrStale), or,
// when the state never held still, ErrBusy.
func Decide(ctx context.Context, store *Store, service string, d Decision, now time.Time) (*State, *Event, error) {
	var st *State
	var e *Event
	err := retry.OnError(decideBackoff, func(err error) bool { return errors.Is(err, ErrConflict) }, func() error {
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
	if errors.Is(err, ErrConflict) {
		return nil, nil, fmt.Errorf("%s: %s: %w", service, d.What, ErrBusy)
	}
	if err != nil {
		return nil, nil, err
	}
	return st, e, nil
}

// Take applies a decision to the state, purely: the caller stores it. A
// decision that does not apply to the promotion as it stands is refused
// with ErrStale, in its own words (already paused by whom, moved on to
// which step).
func (s *State) Take(d Decision, now time.Time) (*Event, error) {
	switch d.What {
	case notify.DecisionApprove, notify.DecisionReject:
		return s.decide(d, now)
	case notify.DecisionPause:
		if s.Phase == Paused {
			return nil, s.stale("already " + s.Reason)
		}
		if s.Phase.Done() {
			return nil, s.stale(s.ended() + ": nothing to pause")
		}
		s.Phase, s.Reason = Paused, "paused by "+d.By
		return s.decided(d, now, Paused, 0, s.Reason), nil
	case notify.DecisionResume:
		if s.Phase != Paused {
			if e, ok := s.lastDecided(notify.DecisionPause, notify.DecisionResume); ok && e.Decision == notify.DecisionResume {
				return nil, s.stale("already resumed" + byVia(e) + "; " + s.standing())
			}
			return nil, s.stale("not paused: " + s.standing())
		}
		s.Phase, s.Reason = Progressing, ""
		return s.decided(d, now, Progressing, 0, "resumed by "+d.By), nil
	case notify.DecisionAbort:
		if s.Phase.Done() {
			return nil, s.stale(s.ended() + ": nothing to abort")
		}
		return s.rollBack(now, Aborted, Event{Kind: KindDecided, Decision: d.What, By: d.By, Via: d.Via, Message: "aborted by " + d.By}), nil
	case notify.DecisionRetry:
		if s.Phase != RolledBack && s.Phase != Aborted {
			if e, ok := s.lastDecided(notify.DecisionRetry, notify.DecisionAbort, notify.DecisionReject); ok && e.Decision == notify.DecisionRetry {
				return nil, s.stale("already retried" + byVia(e) + "; " + s.standing())
			}
			return nil, s.stale(string(s.Phase) + ", nothing to retry")
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
	next := s.Waves[0].Step + 1
	if s.Phase != WaitingForApproval || next >= len(s.Steps) {
		return nil, s.staleAnswer(d)
	}
	want := s.Steps[next]
	if d.Weight != 0 && d.Weight != want {
		return nil, s.staleAnswer(d)
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

// staleAnswer says why an approval or a rejection does not apply: the step
// it names (or, naming none, the next one) was already decided, and by
// whom; or the promotion waits for another step; or it waits for none.
func (s *State) staleAnswer(d Decision) error {
	lead := s.Waves[0]
	weight := d.Weight
	if weight == 0 && lead.Step+1 < len(s.Steps) {
		weight = s.Steps[lead.Step+1]
	}
	if a, ok := s.decision(weight); ok {
		verb := "approved"
		if !a.Approved {
			verb = "rejected"
		}
		return s.stale(fmt.Sprintf("the step to %d%% is already %s%s", weight, verb, byVia(Event{By: a.By, Via: a.Via})))
	}
	switch {
	case s.Phase == WaitingForApproval && lead.Step+1 < len(s.Steps):
		return s.stale(fmt.Sprintf("waiting for the step to %d%%, not %d%%", s.Steps[lead.Step+1], d.Weight))
	case d.Weight != 0 && d.Weight <= lead.Weight:
		return s.stale(fmt.Sprintf("moved on: the step to %d%% is already taken, wave %d is at %d%%", d.Weight, lead.Wave, lead.Weight))
	}
	return s.stale("not waiting for an approval: " + s.standing())
}

// stale refuses a decision with why, in its words.
func (s *State) stale(why string) error {
	return fmt.Errorf("%s: %s: %w", s.Service, why, ErrStale)
}

// ended says how a finished promotion ended.
func (s *State) ended() string {
	if s.Reason == "" {
		return "already " + string(s.Phase)
	}
	return "already " + string(s.Phase) + " (" + s.Reason + ")"
}

// lastDecided is the latest decision in the history that is one of what.
func (s *State) lastDecided(what ...string) (Event, bool) {
	for i := len(s.History) - 1; i >= 0; i-- {
		if e := s.History[i]; e.Kind == KindDecided && slices.Contains(what, e.Decision) {
			return e, true
		}
	}
	return Event{}, false
}

// standing says how a promotion stands, for a refused decision or the
// entry of the promotion that replaces it: its phase, why, and each
// wave's weight.
func (s *State) standing() string {
	var waves []string
	for _, w := range s.Waves {
		waves = append(waves, fmt.Sprintf("wave %d at %d%%", w.Wave, w.Weight))
	}
	out := string(s.Phase)
	if s.Reason != "" {
		out += ": " + s.Reason
	}
	return out + "; " + strings.Join(waves, ", ")
}

// byWhom names who decided, as " by alice"; nothing for no one.
func byWhom(by string) string {
	if by == "" {
		return ""
	}
	return " by " + by
}

// byVia names who decided and where, as " by alice via cli".
func byVia(e Event) string {
	out := byWhom(e.By)
	if e.Via != "" {
		out += " via " + e.Via
	}
	return out
}

// decided records a decision in the history.
func (s *State) decided(d Decision, now time.Time, phase Phase, weight int, msg string) *Event {
	return s.event(now, Event{Kind: KindDecided, Phase: phase, Weight: weight, Message: msg, Decision: d.What, By: d.By, Via: d.Via})
}
