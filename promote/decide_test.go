package promote

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sailplan/sailplan/notify"
	sailschema "github.com/sailplan/sailplan/schema"
)

// TestStaleDecisionsInTheirWords: a decision that comes second, or late,
// is refused with what happened, in the decision's words: who already
// took it, or where the promotion has moved on to.
func TestStaleDecisionsInTheirWords(t *testing.T) {
	svc := service(sailschema.Canary{Steps: []int{10, 50, 100}, Approval: &sailschema.Approval{AtWeights: []int{50}}})
	s := NewState("reviews", svc, []int{1}, before)
	s.Advance(svc.Canary, t0, open)
	s.Advance(svc.Canary, t0.Add(10*time.Minute), open) // waits for 50
	refused := func(what string, weight int, by string, want string) {
		t.Helper()
		_, err := take(s, what, weight, by, t0.Add(11*time.Minute))
		if !errors.Is(err, ErrStale) || !strings.HasPrefix(err.Error(), "reviews: "+want+": ") {
			t.Errorf("%s %d by %s: %v, want %q", what, weight, by, err, want)
		}
	}
	refused(notify.DecisionApprove, 10, "bob", "waiting for the step to 50%, not 10%")
	if _, err := take(s, notify.DecisionApprove, 50, "alice", t0.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	refused(notify.DecisionApprove, 50, "bob", "the step to 50% is already approved by alice via cli")
	refused(notify.DecisionApprove, 0, "bob", "the step to 50% is already approved by alice via cli")
	refused(notify.DecisionReject, 0, "bob", "the step to 50% is already approved by alice via cli")
	s.Advance(svc.Canary, t0.Add(12*time.Minute), open) // takes 50
	refused(notify.DecisionApprove, 10, "bob", "moved on: the step to 10% is already taken, wave 1 is at 50%")
	refused(notify.DecisionApprove, 0, "bob", "not waiting for an approval: Progressing; wave 1 at 50%")

	if _, err := take(s, notify.DecisionPause, 0, "alice", t0.Add(13*time.Minute)); err != nil {
		t.Fatal(err)
	}
	refused(notify.DecisionPause, 0, "bob", "already paused by alice")
	if _, err := take(s, notify.DecisionResume, 0, "alice", t0.Add(13*time.Minute)); err != nil {
		t.Fatal(err)
	}
	refused(notify.DecisionResume, 0, "bob", "already resumed by alice via cli; Progressing; wave 1 at 50%")
	refused(notify.DecisionRetry, 0, "bob", "Progressing, nothing to retry")
	if _, err := take(s, notify.DecisionAbort, 0, "alice", t0.Add(14*time.Minute)); err != nil {
		t.Fatal(err)
	}
	refused(notify.DecisionAbort, 0, "bob", "already Aborted (aborted by alice): nothing to abort")
	refused(notify.DecisionPause, 0, "bob", "already Aborted (aborted by alice): nothing to pause")
	if _, err := take(s, notify.DecisionRetry, 0, "alice", t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	refused(notify.DecisionRetry, 0, "bob", "already retried by alice via cli; Progressing; wave 1 at 0%")
}

// TestDecideNeverAnswersWithTheStorage: a decision whose every write
// loses the race is answered with ErrBusy, not the ConfigMap's conflict.
func TestDecideNeverAnswersWithTheStorage(t *testing.T) {
	client := fake.NewClientset()
	store := NewStore(client, "sailplan-system")
	svc := service(sailschema.Canary{Steps: []int{10, 100}})
	if _, err := store.Save(t.Context(), NewState("reviews", svc, []int{1}, t0), ""); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "promotion-reviews", errors.New("changed"))
	})
	_, _, err := Decide(t.Context(), store, "reviews", Decision{What: notify.DecisionPause, By: "alice", Via: "cli"}, t0)
	if !errors.Is(err, ErrBusy) || strings.Contains(err.Error(), "ConfigMap") {
		t.Errorf("always in conflict: %v, want ErrBusy without the storage's words", err)
	}
}

// TestParallelApprovals: eight approvers approve the step a promotion in
// the home cluster waits for, at once. One approval is recorded; every
// other approver is told who approved it first, never of a conflict.
func TestParallelApprovals(t *testing.T) {
	env.Need(t)
	store := homeStore(t, env.Namespace(t))
	svc := service(sailschema.Canary{Steps: []int{10, 50, 100}, Approval: &sailschema.Approval{AtWeights: []int{50}}})
	s := NewState("reviews", svc, []int{1}, before)
	s.Advance(svc.Canary, t0, open)
	s.Advance(svc.Canary, t0.Add(10*time.Minute), open)
	if _, err := store.Save(t.Context(), s, ""); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			d := Decision{What: notify.DecisionApprove, By: fmt.Sprintf("approver%d", i), Via: "cli"}
			if i%2 == 0 {
				d.Weight = 50 // as Slack's button names it; the CLI names none
			}
			_, _, errs[i] = Decide(t.Context(), store, "reviews", d, t0.Add(11*time.Minute))
		})
	}
	wg.Wait()
	st, err := store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Decisions) != 1 {
		t.Fatalf("decisions %+v, want one", st.Decisions)
	}
	want := "reviews: the step to 50% is already approved by " + st.Decisions[0].By + " via cli: " + ErrStale.Error()
	for i, err := range errs {
		if fmt.Sprintf("approver%d", i) == st.Decisions[0].By {
			if err != nil {
				t.Errorf("the recorded approver was told %v", err)
			}
			continue
		}
		if err == nil || err.Error() != want {
			t.Errorf("approver%d was told %v, want %q", i, err, want)
		}
	}
}
