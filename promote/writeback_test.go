package promote

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// promoted is walked to 100 %, one interval more: Promoted.
func promoted(t *testing.T) (*State, time.Time) {
	t.Helper()
	s, now := walked(t, 100)
	now = now.Add(fourSteps().Canary.Every)
	if s.Advance(fourSteps().Canary, now, open); s.Phase != Promoted {
		t.Fatalf("phase %s, want Promoted", s.Phase)
	}
	return s, now
}

// TestWrittenBackOnce: a Promoted promotion records its write-back once,
// as an entry that says where the commit went (or why there is none), and
// its reason tells the status what is left to do; any other phase, or a
// second record, is refused.
func TestWrittenBackOnce(t *testing.T) {
	commit := "89abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name              string
		wb                WriteBack
		kind, msg, reason string
	}{
		{"to the branch", WriteBack{Commit: commit, Branch: "main"}, KindWrittenBack,
			"v2 made stable in Git by commit 89abcde on main", "v2 serves all traffic in every wave; stable in Git from commit 89abcde"},
		{"for review", WriteBack{Commit: commit, Branch: "sailplan/promoted/reviews/v2", Review: true}, KindWrittenBack,
			"v2 made stable in commit 89abcde on branch sailplan/promoted/reviews/v2, for review",
			"v2 serves all traffic in every wave; merge branch sailplan/promoted/reviews/v2 to make it stable in Git"},
		{"not written", WriteBack{Reason: "services.reviews.canary comes from a comprehension"}, KindNotWrittenBack,
			"services.reviews.canary comes from a comprehension",
			"v2 serves all traffic in every wave; not written back: services.reviews.canary comes from a comprehension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, now := promoted(t)
			e, err := s.WrittenBack(tt.wb, now)
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != tt.kind || e.Message != tt.msg || e.Commit != tt.wb.Commit || e.Branch != tt.wb.Branch || e.Review != tt.wb.Review {
				t.Errorf("entry %+v, want %s %q", e, tt.kind, tt.msg)
			}
			if s.Reason != tt.reason || s.Phase != Promoted || s.WriteBack == nil || !s.WriteBack.At.Equal(now) {
				t.Errorf("state: %s, %q, %+v; want Promoted, %q, the record", s.Phase, s.Reason, s.WriteBack, tt.reason)
			}
			if _, err := s.WrittenBack(tt.wb, now); !errors.Is(err, ErrStale) {
				t.Errorf("a second record: %v, want ErrStale", err)
			}
		})
	}
	s, now := walked(t, 100) // not promoted yet
	if _, err := s.WrittenBack(WriteBack{Commit: commit, Branch: "main"}, now); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "not promoted") {
		t.Errorf("a record of a promotion still Progressing: %v, want ErrStale, not promoted", err)
	}
}

// atRestIntents is loadIntents' service with its canary at rest, v2
// stable: the intents of a write-back's commit.
func atRestIntents(t *testing.T, ns string) *schema.Intents {
	t.Helper()
	in := loadIntents(t, ns)
	plan := *in.Services["reviews"].Canary
	plan.Stable, plan.Candidate = "v2", ""
	in.Services["reviews"].Canary = &plan
	return in
}

// TestRecordWriteBackPublishedOnce: against the real home cluster, a
// write-back recorded by another process (the writer) is published once by
// the leader's controller, also when the commit it made has already
// reached the controller (the canary at rest, where it takes no step); a
// second record, or one of a promotion replaced meanwhile, is refused.
func TestRecordWriteBackPublishedOnce(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	ev := &events{}
	c := &Controller{Store: homeStore(t, ns), Analyzer: passing{}, Events: ev}
	now := t0
	c.Now = func() time.Time { return now }
	in := loadIntents(t, ns)
	for range 10 {
		if _, err := step(t, c, in); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Second)
	}
	stored, err := c.Store.Get(t.Context(), "reviews")
	if err != nil || stored.Phase != Promoted {
		t.Fatalf("promotion %+v, %v; want Promoted", stored, err)
	}
	commit := "89abcdef0123456789abcdef0123456789abcdef"
	if _, err := RecordWriteBack(t.Context(), c.Store, stored.State, WriteBack{Commit: commit, Branch: "main"}, now); err != nil {
		t.Fatal(err)
	}
	before := len(ev.kinds())
	for range 2 {
		if moved, err := step(t, c, atRestIntents(t, ns)); moved || err != nil {
			t.Fatalf("a look at the canary at rest: moved %v, %v; want nothing", moved, err)
		}
	}
	if got := ev.kinds()[before:]; len(got) != 1 || got[0] != "notify.PromotionWrittenBack" {
		t.Fatalf("published after the record: %v, want one PromotionWrittenBack", got)
	}
	wb := ev.got[len(ev.got)-1].(notify.PromotionWrittenBack)
	if wb.Commit != commit || wb.Branch != "main" || wb.Current().Phase != string(Promoted) {
		t.Errorf("event %+v, want commit %s on main, Promoted", wb, commit)
	}
	if _, err := RecordWriteBack(t.Context(), c.Store, stored.State, WriteBack{Commit: commit, Branch: "main"}, now); !errors.Is(err, ErrStale) {
		t.Errorf("a second record: %v, want ErrStale", err)
	}
	replaced := *stored.State
	replaced.Started = now
	if _, err := RecordWriteBack(t.Context(), c.Store, &replaced, WriteBack{Reason: "x"}, now); !errors.Is(err, ErrStale) {
		t.Errorf("a record of another promotion: %v, want ErrStale", err)
	}
}
