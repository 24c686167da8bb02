package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/loop"
	"github.com/sailplan/sailplan/sync/source"
)

// Writer writes each promoted candidate back to Git once: a commit that
// makes it the stable version and leaves the canary at rest, pushed to
// the branch sailplan follows or, with Review, to a branch of its own.
// It hears promotions end on the bus, and also looks at every stored
// promotion when it starts and each Interval, so that a restart, or a new
// leader, finishes what the last one left. Only the leader runs it.
type Writer struct {
	// URL, Branch and Path are the source's: where the intents are.
	URL    string
	Branch string
	Path   string
	// Auth is the source's credentials; they must be allowed to push.
	Auth transport.AuthMethod
	// Review pushes the commit to a branch of its own
	// (ReviewBranch), for a person to merge, rather than to Branch.
	Review bool
	// Author signs the commit as author and committer.
	Author Author
	// SignKey, when set, signs the commit (OpenPGP), so that a source
	// that verifies signatures takes it.
	SignKey *openpgp.Entity
	// Store holds the promotion states; the write-back is recorded there.
	Store *promote.Store
	// Limits bound the evaluation of the edited intents, as sync's.
	Limits bounded.Limits
	// Interval is how often every promotion is looked at; a minute when
	// 0. A push that failed for a reason that may pass (the server does
	// not answer) is tried again then.
	Interval time.Duration
	// Backoff spaces the attempts when the branch moves under a push.
	Backoff wait.Backoff
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives what fails for a while; outcomes are events, published
	// by the promotion controller from the state.
	Log *slog.Logger

	loop loop.Loop
	// beforePush runs between making the commit and pushing it; tests
	// move the branch there.
	beforePush func()
}

// Author is who the commit names as author and committer.
type Author struct{ Name, Email string }

// DefaultAuthor names sailplan.
var DefaultAuthor = Author{Name: "sailplan", Email: "sailplan@users.noreply.sailplan.dev"}

// DefaultBackoff: five attempts over about 15 s when the branch keeps
// moving; past them, the next look starts over.
var DefaultBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 5}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Handle asks for a look when a promotion ends Promoted, or when the
// stored promotions are loaded. It never blocks.
func (w *Writer) Handle(e notify.Event) {
	switch e.(type) {
	case notify.PromotionPromoted, notify.PromotionsLoaded:
		w.loop.Ask()
	}
}

// Run writes back until ctx ends.
func (w *Writer) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	w.loop.Name = "sailplan-writeback"
	w.loop.Run(ctx, func() time.Duration { return interval }, func(ctx context.Context) {
		if err := w.WriteAll(ctx); err != nil && ctx.Err() == nil && w.Log != nil {
			w.Log.Warn("write-back not done; tried again at the next look", "err", err, "every", interval)
		}
	})
}

// WriteAll writes back every Promoted promotion that has no write-back
// recorded. Its error is one that may pass; final outcomes are recorded.
func (w *Writer) WriteAll(ctx context.Context) error {
	states, err := w.Store.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range states {
		if st.Phase != promote.Promoted || st.WriteBack != nil {
			continue
		}
		if _, err := w.Write(ctx, st.State); err != nil {
			errs = append(errs, fmt.Errorf("services.%s: %w", st.Service, err))
		}
	}
	return errors.Join(errs...)
}

// errMoved is a push that lost the race: the branch moved since it was
// read. The edit is made again on the new head.
var errMoved = errors.New("the branch moved")

// Write writes back st, a Promoted promotion, and records how it ended:
// the commit, or why there is none. When the branch moves under the push
// it reads it again and edits the new head, with Backoff between
// attempts; a push the server refuses, or a head it cannot edit safely, is
// recorded and never tried again. An error is a failure that may pass
// (the server, the home cluster): nothing is recorded.
func (w *Writer) Write(ctx context.Context, st *promote.State) (promote.WriteBack, error) {
	backoff := w.Backoff
	if backoff.Steps == 0 {
		backoff = DefaultBackoff
	}
	var wb promote.WriteBack
	err := retry.OnError(backoff, func(err error) bool { return errors.Is(err, errMoved) }, func() error {
		var err error
		wb, err = w.attempt(ctx, st)
		return err
	})
	if err != nil {
		return wb, err
	}
	_, err = promote.RecordWriteBack(ctx, w.Store, st, wb, w.now())
	if errors.Is(err, promote.ErrStale) {
		// Another writer recorded it first, or the promotion moved on.
		return wb, nil
	}
	return wb, err
}

// attempt reads the branch, finds the write-back already there or makes
// it, and pushes it.
func (w *Writer) attempt(ctx context.Context, st *promote.State) (promote.WriteBack, error) {
	target := w.branch()
	if w.Review {
		target = ReviewBranch(st)
	}
	repo, err := w.clone(ctx, st)
	if err != nil {
		return promote.WriteBack{}, err
	}
	// A commit of this write-back already there: a push whose record was
	// lost (a crash, another leader). It is recorded, not made again.
	if found := repo.find(ctx, st); found != "" {
		return promote.WriteBack{Commit: found, Branch: target, Review: w.Review}, nil
	}
	if w.Review && repo.review != nil {
		// Someone else's branch: never pushed onto, even as a
		// fast-forward.
		return promote.WriteBack{}, repo.taken(target, repo.review.Hash)
	}
	commit, reason, err := w.commit(ctx, repo, st)
	if err != nil || reason != "" {
		return promote.WriteBack{Reason: reason}, err
	}
	if w.beforePush != nil {
		w.beforePush()
	}
	refused, err := repo.push(ctx, st, commit, target, w.Review)
	if err != nil || refused != "" {
		return promote.WriteBack{Reason: refused}, err
	}
	return promote.WriteBack{Commit: commit.String(), Branch: target, Review: w.Review}, nil
}

func (w *Writer) branch() string {
	if w.Branch == "" {
		return "main"
	}
	return w.Branch
}

// ReviewBranch is the branch a write-back for review is pushed to: one
// per promotion.
func ReviewBranch(st *promote.State) string {
	return fmt.Sprintf("sailplan/promote/%s/%s", st.Service, st.Candidate)
}

// redact names the repository in errors without credentials.
func (w *Writer) redact() string { return "git " + source.RedactURL(w.URL) }
