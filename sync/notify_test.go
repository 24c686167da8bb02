package sync

import (
	"context"
	"fmt"
	"strings"
	gosync "sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

// recorder is a Notifier that writes down what it hears.
type recorder struct {
	mu     gosync.Mutex
	events []string
}

func (r *recorder) CommitApplied(_ context.Context, rev *source.Revision, clusters map[string]apply.ClusterStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cs []string
	for _, name := range []string{"c1", "c2", "c3"} {
		c := clusters[name]
		cs = append(cs, fmt.Sprintf("%s:%s:created=%d", name, c.State, c.Counts[apply.Created]))
	}
	r.events = append(r.events, "applied "+rev.Short()+" by "+rev.Author+" "+strings.Join(cs, ","))
}

func (r *recorder) CommitRejected(_ context.Context, commit string, rev *source.Revision, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("rejected %s: %v", commit[:7], strings.Contains(err.Error(), "field not allowed")))
}

// TestNotifierHearsEachCommitOnce: a new commit is announced once when it
// is applied everywhere, a rejected one once, and syncs that change
// nothing are quiet.
func TestNotifierHearsEachCommitOnce(t *testing.T) {
	needClusters(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	var log fixture.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	rec := &recorder{}
	r.Notifier = rec

	good := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "reviews: 90/10")
	for i := 0; i < 3; i++ {
		if err := r.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	bad := repo.Commit(t, map[string]string{"reviews.cue": strings.Replace(serviceCUE(ns, 90, 10), "namespace:", "namespce:", 1)}, "typo")
	for i := 0; i < 3; i++ {
		r.Sync(t.Context())
	}
	want := []string{
		"applied " + good[:7] + " by " + testenv.GitAuthorName + " c1:synced:created=2,c2:synced:created=2,c3:synced:created=2",
		"rejected " + bad[:7] + ": true",
	}
	if diff := cmp.Diff(want, rec.events); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}
