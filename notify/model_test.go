package notify

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

var m0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(s int) At { return At{m0.Add(time.Duration(s) * time.Second)} }

func hash(c byte) string { return fmt.Sprintf("%c%039d", c, 0) }

func twoClusters() *schema.Intents {
	return &schema.Intents{Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}, "c2": {Wave: 2}}}}
}

func fold(events ...Event) *Model {
	m := NewModel()
	for _, e := range events {
		m.Handle(e)
	}
	return m
}

// applied is commit a, by alice, applied to c1 and c2.
func applied() []Event {
	a := Commit{Hash: hash('a'), Author: "alice", Message: "reviews: 10 % to v2"}
	return []Event{
		CommitSeen{at(0), "git http://git/intents", a},
		CommitApplying{At: at(1), Commit: a, Intents: twoClusters()},
		ClusterSynced{At: at(2), Cluster: "c1", Wave: 1, Commit: a.Hash, Counts: Counts{Created: 2}},
		ClusterSynced{At: at(3), Cluster: "c2", Wave: 2, Commit: a.Hash, Counts: Counts{Created: 2}},
		CommitApplied{at(3), a, map[string]Counts{"c1": {Created: 2}, "c2": {Created: 2}}},
	}
}

func TestModelAppliedCommit(t *testing.T) {
	m := fold(applied()...)
	st, gen := m.Status()
	a := Commit{Hash: hash('a'), Author: "alice", Message: "reviews: 10 % to v2"}
	want := Status{
		Version: StatusVersion,
		Updated: m0.Add(3 * time.Second),
		Source:  Source{Name: "git http://git/intents"},
		Head:    a.Hash,
		Commits: []CommitStatus{{Commit: a, Fate: FateApplied, Seen: m0, Done: m0.Add(3 * time.Second),
			Clusters: map[string]time.Time{"c1": m0.Add(2 * time.Second), "c2": m0.Add(3 * time.Second)}}},
		Clusters: map[string]ClusterStatus{
			"c1": {Wave: 1, State: StateSynced, Since: m0.Add(2 * time.Second), Commit: a.Hash, Applied: m0.Add(2 * time.Second), Target: a.Hash, Counts: Counts{Created: 2}},
			"c2": {Wave: 2, State: StateSynced, Since: m0.Add(3 * time.Second), Commit: a.Hash, Applied: m0.Add(3 * time.Second), Target: a.Hash, Counts: Counts{Created: 2}},
		},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if !st.Healthy() {
		t.Error("Healthy() = false for an applied commit and synced clusters")
	}
	// A later sync that changes nothing leaves the status, and its
	// generation, as they are: keeping it costs no write.
	m.Handle(ClusterSynced{At: at(30), Cluster: "c1", Wave: 1, Commit: a.Hash, Counts: Counts{Unchanged: 2}})
	if st2, gen2 := m.Status(); gen2 != gen || !cmp.Equal(st, st2) {
		t.Errorf("a no-op sync changed the status (generation %d -> %d):\n%s", gen, gen2, cmp.Diff(st, st2))
	}
}

func TestModelRejectedCommit(t *testing.T) {
	b := Commit{Hash: hash('b'), Author: "bob", Message: "weights add to 90"}
	errs := []string{"reviews.cue:13:4: services.reviews.routes.1.to: weights add up to 90, not 100"}
	m := fold(append(applied(), CommitSeen{at(10), "git http://git/intents", b}, CommitRejected{at(11), b, RejectedInvalid, errs})...)
	st, _ := m.Status()
	if st.Head != b.Hash {
		t.Errorf("head = %s, want the rejected commit %s", st.Head, b.Hash)
	}
	want := CommitStatus{Commit: b, Fate: FateRejected, Reason: RejectedInvalid, Errors: errs, Seen: m0.Add(10 * time.Second), Done: m0.Add(11 * time.Second)}
	if diff := cmp.Diff(want, st.Commits[0]); diff != "" {
		t.Errorf("newest commit (-want +got):\n%s", diff)
	}
	if c, _ := st.Applied(); c.Commit.Hash != hash('a') {
		t.Errorf("applied commit = %s, want the last good one, %s", c.Commit.Hash, hash('a'))
	}
	if st.Clusters["c1"].State != StateSynced || st.Clusters["c1"].Commit != hash('a') {
		t.Errorf("c1 = %+v, want synced at the last good commit", st.Clusters["c1"])
	}
	if st.Healthy() {
		t.Error("Healthy() = true with a rejected head")
	}
}

func TestModelSourceErrors(t *testing.T) {
	m := fold(applied()...)
	_, gen := m.Status()
	for i := range 3 {
		m.Handle(SourceFailed{at(10 + i), "git http://git/intents branch main", "repository not found"})
	}
	st, gen2 := m.Status()
	want := Source{Name: "git http://git/intents branch main", Error: "repository not found", ErrorSince: m0.Add(10 * time.Second)}
	if diff := cmp.Diff(want, st.Source); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
	if gen2 != gen+1 {
		t.Errorf("three failures with the same error moved the generation by %d, want 1", gen2-gen)
	}
	if st.Healthy() {
		t.Error("Healthy() = true while the source fails")
	}
	m.Handle(SourceRecovered{at(40), "git http://git/intents branch main", 30 * time.Second})
	if st, _ := m.Status(); st.Source.Error != "" || !st.Source.ErrorSince.IsZero() || !st.Healthy() {
		t.Errorf("after recovery: source %+v, healthy %v", st.Source, st.Healthy())
	}
}

func TestModelUnreachableCluster(t *testing.T) {
	b := Commit{Hash: hash('b')}
	m := fold(append(applied(),
		CommitSeen{at(10), "git http://git/intents", b},
		CommitApplying{At: at(10), Commit: b, Intents: twoClusters()},
		ClusterSynced{At: at(11), Cluster: "c1", Wave: 1, Commit: b.Hash, Counts: Counts{Configured: 1, Unchanged: 1}},
		ClusterUnreachable{At: at(12), Cluster: "c2", Wave: 2, Commit: b.Hash, Err: "dial tcp 127.0.0.1:1: connect: connection refused", RetryIn: time.Second},
		ClusterUnreachable{At: at(14), Cluster: "c2", Wave: 2, Commit: b.Hash, Err: "dial tcp 127.0.0.1:1: connect: connection refused", RetryIn: 2 * time.Second},
	)...)
	st, _ := m.Status()
	want := ClusterStatus{Wave: 2, State: StateUnreachable, Since: m0.Add(12 * time.Second), Commit: hash('a'), Applied: m0.Add(3 * time.Second),
		Target: b.Hash, Counts: Counts{Created: 2}, Error: "dial tcp 127.0.0.1:1: connect: connection refused"}
	if diff := cmp.Diff(want, st.Clusters["c2"]); diff != "" {
		t.Errorf("c2 (-want +got):\n%s", diff)
	}
	if st.Commits[0].Fate != FateApplying {
		t.Errorf("fate = %s, want applying while a cluster cannot be reached", st.Commits[0].Fate)
	}
	m.Handle(ClusterRecovered{At: at(20), Cluster: "c2", Wave: 2, Down: 8 * time.Second})
	m.Handle(ClusterSynced{At: at(20), Cluster: "c2", Wave: 2, Commit: b.Hash, Counts: Counts{Configured: 1, Unchanged: 1}})
	m.Handle(CommitApplied{at(20), b, nil})
	st, _ = m.Status()
	if c2 := st.Clusters["c2"]; c2.State != StateSynced || c2.Error != "" || c2.Commit != b.Hash {
		t.Errorf("c2 after recovery = %+v", c2)
	}
	if !st.Healthy() {
		t.Error("not healthy after recovery")
	}
}

func TestModelHeldAndSuperseded(t *testing.T) {
	b, c := Commit{Hash: hash('b')}, Commit{Hash: hash('c')}
	m := fold(append(applied(),
		CommitSeen{at(10), "git http://git/intents", b},
		CommitApplying{At: at(10), Commit: b, Intents: twoClusters()},
		PruneRefused{At: at(11), Cluster: "c1", Commit: b.Hash, Delete: 3, Inventory: 4, MaxShare: 0.5},
		ClusterFailed{At: at(11), Cluster: "c1", Wave: 1, Commit: b.Hash, Err: "prune refused: it would delete 3 of the 4 objects"},
		ClusterWaiting{At: at(11), Cluster: "c2", Wave: 2, Commit: b.Hash, Reason: "wave 1 failed"},
	)...)
	st, _ := m.Status()
	if got := st.Commits[0]; got.Fate != FateHeld || got.Reason != "cluster c1: prune refused: it would delete 3 of the 4 objects sailplan manages there" {
		t.Errorf("held commit = %+v", got)
	}
	if c2 := st.Clusters["c2"]; c2.State != StateWaiting || c2.Error != "wave 1 failed" || c2.Commit != hash('a') || c2.Target != b.Hash {
		t.Errorf("c2 = %+v, want waiting at the old commit", c2)
	}
	m.Handle(CommitSeen{at(20), "git http://git/intents", c})
	m.Handle(CommitApplying{At: at(20), Commit: c, Intents: twoClusters()})
	st, _ = m.Status()
	if got, _ := st.Commit(b.Hash); got.Fate != FateSuperseded {
		t.Errorf("held commit after a newer one = %s, want superseded", got.Fate)
	}
}

func TestModelFleetChanges(t *testing.T) {
	one := &schema.Intents{Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 2}, "c3": {Wave: 1}}}}
	b := Commit{Hash: hash('b')}
	m := fold(append(applied(), CommitApplying{At: at(10), Commit: b, Intents: one})...)
	st, _ := m.Status()
	want := map[string]ClusterStatus{
		"c1": {Wave: 2, State: StateSynced, Since: m0.Add(2 * time.Second), Commit: hash('a'), Applied: m0.Add(2 * time.Second), Target: hash('a'), Counts: Counts{Created: 2}},
		"c3": {Wave: 1, State: StatePending, Since: m0.Add(10 * time.Second)},
	}
	if diff := cmp.Diff(want, st.Clusters); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
}

func TestModelKeepsFewCommitsAndErrors(t *testing.T) {
	m := NewModel()
	errs := make([]string, 150)
	for i := range errs {
		errs[i] = fmt.Sprintf("f.cue:%d:1: error", i+1)
	}
	for i := range 15 {
		c := Commit{Hash: fmt.Sprintf("%040d", i)}
		m.Handle(CommitSeen{at(i), "git http://git/intents", c})
		m.Handle(CommitRejected{at(i), c, RejectedInvalid, errs})
	}
	st, _ := m.Status()
	if len(st.Commits) != maxCommits || st.Commits[0].Commit.Hash != fmt.Sprintf("%040d", 14) {
		t.Fatalf("kept %d commits, newest %s", len(st.Commits), st.Commits[0].Commit.Hash)
	}
	got := st.Commits[0].Errors
	if len(got) != maxErrors+1 || got[maxErrors] != "and 50 more errors" {
		t.Errorf("kept %d errors, last %q", len(got), got[len(got)-1])
	}
}

func TestModelPromotions(t *testing.T) {
	p := Promotion{Service: "reviews", Candidate: "v2", Phase: "Progressing", Steps: []int{10, 50, 100},
		Waves: []WaveWeight{{Wave: 1, Step: -1}, {Wave: 2, Step: -1}}}
	m := fold(PromotionsLoaded{at(0), []Promotion{p}})
	q := p
	q.Waves = []WaveWeight{{Wave: 1, Step: 0, Weight: 10}, {Wave: 2, Step: -1}}
	m.Handle(PromotionStepped{Change{at(1), q}, 1, 10})
	got, ok := m.Promotion("reviews")
	if !ok || got.WeightIn(1) != 10 || got.WeightIn(2) != 0 {
		t.Errorf("promotion = %+v, want wave 1 at 10 %%", got)
	}
	_, gen := m.Status()
	m.Handle(PromotionHolding{Change{at(2), q}, "analysis inconclusive"})
	if _, gen2 := m.Status(); gen2 != gen {
		t.Error("a promotion event changed the status kept in the clusters")
	}
}

func TestModelGuardLifted(t *testing.T) {
	b := Commit{Hash: hash('b')}
	m := fold(append(applied(),
		CommitSeen{at(10), "git http://git/intents", b},
		CommitApplying{At: at(10), Commit: b, Intents: twoClusters()},
		PruneRefused{At: at(11), Cluster: "c1", Commit: b.Hash, Delete: 3, Inventory: 4, MaxShare: 0.5},
		ClusterFailed{At: at(11), Cluster: "c1", Wave: 1, Commit: b.Hash, Err: "prune refused"},
		ClusterWaiting{At: at(11), Cluster: "c2", Wave: 2, Commit: b.Hash, Reason: "wave 1 failed"},
		ClusterSynced{At: at(20), Cluster: "c1", Wave: 1, Commit: b.Hash, Counts: Counts{Pruned: 3}},
	)...)
	st, _ := m.Status()
	if got := st.Commits[0].Fate; got != FateHeld {
		t.Errorf("fate = %s while c2 still waits, want held", got)
	}
	m.Handle(ClusterSynced{At: at(21), Cluster: "c2", Wave: 2, Commit: b.Hash, Counts: Counts{Pruned: 3}})
	st, _ = m.Status()
	if got := st.Commits[0]; got.Fate != FateApplying || got.Reason != "" {
		t.Errorf("commit = %s (%s) once every cluster synced it, want applying until CommitApplied", got.Fate, got.Reason)
	}
}

// TestModelCommitWithWarnings: a commit applied with warnings keeps them in
// the status, and is healthy: warnings do not hold a commit back.
func TestModelCommitWithWarnings(t *testing.T) {
	events := applied()
	warning := "payments.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates (IST0128)"
	applying := events[1].(CommitApplying)
	applying.Warnings = []string{warning}
	events[1] = applying
	st, _ := fold(events...).Status()
	if diff := cmp.Diff([]string{warning}, st.Commits[0].Warnings); diff != "" {
		t.Errorf("warnings of the applied commit (-want +got):\n%s", diff)
	}
	if st.Commits[0].Fate != FateApplied || !st.Healthy() {
		t.Errorf("fate %s, healthy %t: want applied and healthy", st.Commits[0].Fate, st.Healthy())
	}
	// The next commit has none.
	b := Commit{Hash: hash('b'), Author: "bob", Message: "ca certificates"}
	st, _ = fold(append(events, CommitSeen{at(10), "git http://git/intents", b}, CommitApplying{At: at(11), Commit: b, Intents: twoClusters()})...).Status()
	if st.Commits[0].Warnings != nil || st.Commits[1].Warnings == nil {
		t.Errorf("warnings: newest %q, previous %q; want none, then the previous commit's", st.Commits[0].Warnings, st.Commits[1].Warnings)
	}
}
