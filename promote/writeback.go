package promote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/util/retry"

	"github.com/sailplan/sailplan/notify"
)

// WriteBack is how the write-back of a Promoted candidate to Git ended:
// a commit of sailplan's that makes the candidate stable, or why there is
// none. It is recorded in the state once, so that neither a restart nor
// another leader writes it again.
type WriteBack struct {
	// Commit is sailplan's commit, on Branch; empty when nothing was
	// written.
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	// Review says that Branch is a branch of its own, pushed for a person
	// to merge, rather than the branch sailplan follows.
	Review bool `json:"review,omitempty"`
	// Reason says why nothing was written (Git already names the
	// candidate stable, an intent sailplan cannot edit safely, a push the
	// branch refused).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// RecordWriteBack records how the write-back of of, service's promotion as
// the writer read it, ended, and returns the history entry it added,
// which the leader's controller publishes like any other. It reads the
// promotion, checks that it is still that one (the same candidate, started
// at the same time), Promoted, with no write-back recorded, and writes
// it with the version it read, reading again when another writer came in
// between; a promotion that moved on is refused with ErrStale.
func RecordWriteBack(ctx context.Context, store *Store, of *State, wb WriteBack, now time.Time) (*Event, error) {
	var e *Event
	err := retry.OnError(decideBackoff, func(err error) bool { return errors.Is(err, ErrConflict) }, func() error {
		stored, err := store.Get(ctx, of.Service)
		if err != nil {
			return err
		}
		if stored == nil || stored.Candidate != of.Candidate || !stored.Started.Equal(of.Started) {
			return fmt.Errorf("%s: the promotion of %s is no longer stored: %w", of.Service, of.Candidate, ErrStale)
		}
		if e, err = stored.WrittenBack(wb, now); err != nil {
			return err
		}
		_, err = store.Save(ctx, stored.State, stored.Version)
		return err
	})
	if errors.Is(err, ErrConflict) {
		return nil, fmt.Errorf("%s: recording the write-back: %w", of.Service, ErrBusy)
	}
	return e, err
}

// WrittenBack records wb in the state, purely: the caller stores it. Only
// a Promoted promotion is written back, and only once.
func (s *State) WrittenBack(wb WriteBack, now time.Time) (*Event, error) {
	if s.Phase != Promoted {
		return nil, s.stale("not promoted: " + s.standing())
	}
	if w := s.WriteBack; w != nil {
		if w.Commit != "" {
			return nil, s.stale(fmt.Sprintf("already written back in commit %s on %s", notify.Short(w.Commit), w.Branch))
		}
		return nil, s.stale("write-back already ended: " + w.Reason)
	}
	wb.At = now
	s.WriteBack = &wb
	serves := s.Candidate + " serves all traffic in every wave; "
	e := Event{Phase: Promoted, Weight: 100}
	switch {
	case wb.Commit == "":
		e.Kind, e.Message = KindNotWrittenBack, wb.Reason
		s.Reason = serves + "not written back: " + wb.Reason
	case wb.Review:
		e.Kind, e.Commit, e.Branch, e.Review = KindWrittenBack, wb.Commit, wb.Branch, true
		e.Message = fmt.Sprintf("%s made stable in commit %s on branch %s, for review", s.Candidate, notify.Short(wb.Commit), wb.Branch)
		s.Reason = serves + fmt.Sprintf("merge branch %s to make it stable in Git", wb.Branch)
	default:
		e.Kind, e.Commit, e.Branch = KindWrittenBack, wb.Commit, wb.Branch
		e.Message = fmt.Sprintf("%s made stable in Git by commit %s on %s", s.Candidate, notify.Short(wb.Commit), wb.Branch)
		s.Reason = serves + "stable in Git from commit " + notify.Short(wb.Commit)
	}
	return s.event(now, e), nil
}
