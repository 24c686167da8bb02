package writeback

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
	"github.com/sailplan/sailplan/testenv/golden"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// reviewsCUE is the intent file write-back edits: written by hand, with
// comments about the canary and beside it.
const reviewsCUE = `package intents

// reviews: v2 is being promoted.
services: reviews: {
	namespace: "shop"
	versions: {
		v1: labels: version: "v1"
		v2: labels: version: "v2"
	}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{timeout: "5s"}, // the canary's split
	]
	canary: {
		stable:    "v1" // what everyone gets
		// Bump to start a promotion.
		candidate: "v2"
		steps: [50, 100]
		every: "10s"
		approval: atWeights: [100]
	}
}
`

const fleetCUE = "package intents\n\nfleet: clusters: {c1: wave: 1, c2: wave: 2}\n"

// fixture is a repository with reviewsCUE under intents/, and the
// promotion of its v2 walked to Promoted in the real home cluster, with
// an approval at 100 %.
type fixture struct {
	server *testenv.GitServer
	repo   *testenv.Repo
	store  *promote.Store
	state  *promote.State
	// head is the commit the promotion ran on.
	head string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env.Need(t)
	f := &fixture{server: testenv.NewGitServer(t)}
	f.repo = f.server.NewRepo(t, "intents")
	f.head = f.repo.Commit(t, map[string]string{"intents/fleet.cue": fleetCUE, "intents/reviews.cue": reviewsCUE}, "reviews: promote v2")
	client, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	f.store = promote.NewStore(client, env.Namespace(t))
	in, err := schema.Load(schema.Files{"fleet.cue": []byte(fleetCUE), "reviews.cue": []byte(reviewsCUE)})
	if err != nil {
		t.Fatal(err)
	}
	svc := in.Services["reviews"]
	st := promote.NewState("reviews", svc, []int{1, 2}, t0)
	version, err := f.store.Save(t.Context(), st, "")
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for range 20 {
		if st.Phase == promote.Promoted {
			break
		}
		now = now.Add(svc.Canary.Every)
		if st.Phase == promote.WaitingForApproval {
			d := promote.Decision{What: notify.DecisionApprove, By: "U0ALICE", Via: "slack"}
			if st, _, err = promote.Decide(t.Context(), f.store, "reviews", d, now); err != nil {
				t.Fatal(err)
			}
			stored, err := f.store.Get(t.Context(), "reviews")
			if err != nil {
				t.Fatal(err)
			}
			version = stored.Version
			continue
		}
		st.Advance(svc.Canary, now, promote.Gate{Open: true, Analysis: promote.Analysis{Verdict: promote.Pass, Summary: "success rate 100 %"}})
		if version, err = f.store.Save(t.Context(), st, version); err != nil {
			t.Fatal(err)
		}
	}
	if st.Phase != promote.Promoted {
		t.Fatalf("promotion %s (%s), want Promoted", st.Phase, st.Reason)
	}
	f.state = st
	return f
}

// writer writes back to url with auth, as the daemon would.
func (f *fixture) writer(url string, auth transport.AuthMethod) *Writer {
	return &Writer{
		URL: url, Branch: "main", Path: "intents", Auth: auth,
		Author: Author{Name: "sailplan", Email: "sailplan@example.com"},
		Store:  f.store, Limits: bounded.Limits{InProcess: true},
		Now:     func() time.Time { return t0.Add(time.Hour) },
		Backoff: DefaultBackoff,
	}
}

// stored is the promotion's write-back as the home cluster holds it.
func (f *fixture) stored(t *testing.T) *promote.WriteBack {
	t.Helper()
	st, err := f.store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	return st.WriteBack
}

// commits counts the commits of a branch on the server.
func (f *fixture) commits(t *testing.T, branch string) int {
	t.Helper()
	n, err := strconv.Atoi(f.repo.Git(t, "rev-list", "--count", branch))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWriteBackOverHTTPS: with credentials required, the promoted v2 is
// written back in one commit on main whose content is exactly the golden
// one (message, author, and a diff that touches the canary's lines only),
// recorded in the promotion's state; writing again, and a restart that
// lost the record, push nothing more.
func TestWriteBackOverHTTPS(t *testing.T) {
	f := newFixture(t)
	f.server.RequireAuth("sailplan", "s3cret")
	// Wrong credentials: a failure that may pass, recorded nowhere, and
	// neither the password nor a URL's credentials in what is said.
	wrong := f.writer(strings.Replace(f.repo.URL(), "http://", "http://sailplan:hunter2@", 1), source.HTTPAuth("sailplan", "hunter2"))
	if _, err := wrong.Write(t.Context(), f.state); err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("with a wrong password: %v, want authentication required, without the password", err)
	}
	if got := f.stored(t); got != nil {
		t.Errorf("with a wrong password, recorded %+v", got)
	}
	w := f.writer(f.repo.URL(), source.HTTPAuth("sailplan", "s3cret"))
	wb, err := w.Write(t.Context(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	if wb.Reason != "" || wb.Branch != "main" || wb.Review || wb.Commit != f.repo.Git(t, "rev-parse", "main") {
		t.Fatalf("write-back %+v, want main's new head", wb)
	}
	show := f.repo.Git(t, "show", "--format=author %an <%ae>%ncommitter %cn <%ce> %cI%nparent %P%n%n%B", wb.Commit)
	golden.File(t, filepath.Join("testdata", "https.show"), []byte(strings.ReplaceAll(show, f.head, "PARENT")+"\n"))
	if got := f.stored(t); got == nil || got.Commit != wb.Commit || got.Branch != "main" {
		t.Errorf("recorded %+v, want commit %s on main", got, wb.Commit)
	}

	// Once: a second look finds it recorded and does nothing.
	if err := w.WriteAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A restart that lost the record (a crash between push and record)
	// finds the commit by its trailer and records it, pushing nothing.
	st, err := f.store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	st.WriteBack = nil
	if _, err := f.store.Save(t.Context(), st.State, st.Version); err != nil {
		t.Fatal(err)
	}
	restarted := f.writer(f.repo.URL(), source.HTTPAuth("sailplan", "s3cret"))
	if err := restarted.WriteAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.stored(t); got == nil || got.Commit != wb.Commit {
		t.Errorf("after the restart, recorded %+v, want commit %s", got, wb.Commit)
	}
	if n := f.commits(t, "main"); n != 2 {
		t.Errorf("main has %d commits, want 2: the seed and one write-back", n)
	}
}

// TestWriteBackChangesNoTraffic: what sync renders from the write-back's
// commit, for every cluster, is what it rendered from the commit before
// with the promotion's weights: every object is the same.
func TestWriteBackChangesNoTraffic(t *testing.T) {
	f := newFixture(t)
	w := f.writer(f.repo.URL(), nil)
	wb, err := w.Write(t.Context(), f.state)
	if err != nil || wb.Commit == "" {
		t.Fatalf("write-back %+v, %v", wb, err)
	}
	read := func(commit string) *schema.Intents {
		src := &source.GitSource{URL: f.repo.URL(), Branch: "main", Commit: commit, Path: "intents"}
		rev, err := src.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		in, err := schema.Load(rev.Files)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	before, after := read(f.head), read(wb.Commit)
	for _, cluster := range []string{"c1", "c2"} {
		// As sync hands the promotion over before the write-back: v2 at
		// 100 % in both waves. After it, the canary rests.
		promoted := map[string]render.CanaryState{"reviews": {Candidate: "v2", Weight: 100}}
		// The same commit annotation: the objects differ by it alone,
		// which is no traffic.
		want := rendered(t, before, render.Options{Cluster: cluster, Commit: "c", Canaries: promoted})
		got := rendered(t, after, render.Options{Cluster: cluster, Commit: "c", Canaries: promoted})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("cluster %s: objects after the write-back (-before +after):\n%s", cluster, diff)
		}
		if !strings.Contains(got, "kind: VirtualService") {
			t.Errorf("cluster %s: no VirtualService rendered:\n%s", cluster, got)
		}
	}
}

// rendered is in's objects as YAML, as sync would apply them.
func rendered(t *testing.T, in *schema.Intents, opts render.Options) string {
	t.Helper()
	objs, err := render.Render(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := render.Encode(objs, "yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestWriteBackOverSSHProtectedBranch: over SSH, with the host key
// checked, a pre-receive hook that protects main refuses the push: the
// promotion records why, with what to do, and main is untouched. For
// review, the commit goes to a branch of its own, which the hook allows.
func TestWriteBackOverSSHProtectedBranch(t *testing.T) {
	f := newFixture(t)
	sshd := testenv.NewSSHGitServer(t, f.server)
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(sshd.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := source.SSHAuth(sshd.URL(f.repo), sshd.ClientKeyPEM(), nil, known)
	if err != nil {
		t.Fatal(err)
	}
	f.repo.Hook(t, "pre-receive", "#!/bin/sh\nwhile read old new ref; do\n  [ \"$ref\" = refs/heads/main ] && { echo 'main is protected: open a pull request' >&2; exit 1; }\ndone\nexit 0\n")

	w := f.writer(sshd.URL(f.repo), auth)
	wb, err := w.Write(t.Context(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	want := "the server refused the push to main: pre-receive hook declined (main is protected: open a pull request); make v2 stable in Git by hand, or let sailplan push a branch for review (--write-back=review)"
	if diff := cmp.Diff(want, wb.Reason); diff != "" || wb.Commit != "" {
		t.Errorf("write-back %+v; reason (-want +got):\n%s", wb, diff)
	}
	if got := f.stored(t); got == nil || got.Reason != want {
		t.Errorf("recorded %+v, want the reason", got)
	}
	if head := f.repo.Git(t, "rev-parse", "main"); head != f.head {
		t.Errorf("main moved to %s", head)
	}

	// For review: a fresh promotion record, the same repository.
	st, err := f.store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	st.WriteBack = nil
	if _, err := f.store.Save(t.Context(), st.State, st.Version); err != nil {
		t.Fatal(err)
	}
	w.Review = true
	wb, err = w.Write(t.Context(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	branch := "sailplan/promote/reviews/v2"
	if wb.Branch != branch || !wb.Review || wb.Commit != f.repo.Git(t, "rev-parse", branch) {
		t.Errorf("write-back %+v, want the head of %s, for review", wb, branch)
	}
	if parent := f.repo.Git(t, "rev-parse", branch+"^"); parent != f.head {
		t.Errorf("review branch on %s, want on main's head %s", parent, f.head)
	}
	// Once: found on the branch again after a lost record.
	st, _ = f.store.Get(t.Context(), "reviews")
	st.WriteBack = nil
	if _, err := f.store.Save(t.Context(), st.State, st.Version); err != nil {
		t.Fatal(err)
	}
	again, err := w.Write(t.Context(), f.state)
	if err != nil || again.Commit != wb.Commit {
		t.Errorf("after a lost record: %+v, %v; want %s found again", again, err, wb.Commit)
	}
}

// TestWriteBackBranchMoved: a push that loses the race to another commit
// is made again on the new head, never forced; a concurrent change of the
// canary itself ends the write-back with why, and pushes nothing.
func TestWriteBackBranchMoved(t *testing.T) {
	t.Run("another file", func(t *testing.T) {
		f := newFixture(t)
		w := f.writer(f.repo.URL(), nil)
		w.Backoff.Duration = 10 * time.Millisecond
		var moved string
		w.beforePush = func() {
			if moved == "" {
				moved = f.repo.Commit(t, map[string]string{"intents/ratings.cue": "package intents\n"}, "someone else's change")
			}
		}
		wb, err := w.Write(t.Context(), f.state)
		if err != nil || wb.Commit == "" {
			t.Fatalf("write-back %+v, %v", wb, err)
		}
		if parent := f.repo.Git(t, "rev-parse", wb.Commit+"^"); parent != moved {
			t.Errorf("write-back on %s, want on the new head %s", parent, moved)
		}
		if got := f.repo.Git(t, "show", "--format=", "--name-only", wb.Commit); got != "intents/reviews.cue" {
			t.Errorf("write-back changed %q, want intents/reviews.cue only", got)
		}
		if got := f.repo.Git(t, "show", "main:intents/ratings.cue"); got != "package intents" {
			t.Errorf("the other change is lost: %q", got)
		}
	})
	t.Run("the canary", func(t *testing.T) {
		f := newFixture(t)
		w := f.writer(f.repo.URL(), nil)
		w.Backoff.Duration = 10 * time.Millisecond
		var moved string
		w.beforePush = func() {
			if moved == "" {
				moved = f.repo.Commit(t, map[string]string{"intents/reviews.cue": strings.Replace(reviewsCUE, `candidate: "v2"`, `candidate: "v3"`, 1) +
					"services: reviews: versions: v3: labels: version: \"v3\"\n"}, "reviews: promote v3")
			}
		}
		wb, err := w.Write(t.Context(), f.state)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`main at %s no longer promotes v2 over v1 (it declares stable "v1", candidate "v3"): nothing written; the next promotion follows Git`, notify.Short(moved))
		if diff := cmp.Diff(want, wb.Reason); diff != "" || wb.Commit != "" {
			t.Errorf("write-back %+v; reason (-want +got):\n%s", wb, diff)
		}
		if head := f.repo.Git(t, "rev-parse", "main"); head != moved {
			t.Errorf("main at %s, want left at %s", head, moved)
		}
	})
}

// TestWriteBackUnsafe: a head whose canary Edit cannot see through (a
// comprehension that could declare it) is not edited: the promotion
// records why, with where to look and what to do, and nothing is pushed.
func TestWriteBackUnsafe(t *testing.T) {
	f := newFixture(t)
	head := f.repo.Commit(t, map[string]string{"intents/generated.cue": "package intents\n\nfor n in [] {services: (n): {}}\n"}, "a generated service")
	wb, err := f.writer(f.repo.URL(), nil).Write(t.Context(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	want := "main at " + notify.Short(head) + ": services.reviews.canary: a comprehension in the top level (generated.cue:3:1) could declare it too, and sailplan does not edit what it cannot see; make v2 stable in Git by hand"
	if diff := cmp.Diff(want, wb.Reason); diff != "" || wb.Commit != "" {
		t.Errorf("write-back %+v; reason (-want +got):\n%s", wb, diff)
	}
	if got := f.stored(t); got == nil || got.Reason != want {
		t.Errorf("recorded %+v, want the reason", got)
	}
	if now := f.repo.Git(t, "rev-parse", "main"); now != head {
		t.Errorf("main moved to %s", now)
	}
}

// TestWriteBackReviewBranchTaken: a review branch left over from someone
// else is never overwritten: the write-back waits, recording nothing,
// until a person deletes it, and then pushes.
func TestWriteBackReviewBranchTaken(t *testing.T) {
	f := newFixture(t)
	branch := "sailplan/promote/reviews/v2"
	f.repo.Git(t, "branch", branch, f.head)
	w := f.writer(f.repo.URL(), nil)
	w.Review = true
	w.Backoff.Duration = 10 * time.Millisecond
	_, err := w.Write(t.Context(), f.state)
	if err == nil || !strings.Contains(err.Error(), "branch "+branch+" already exists at "+notify.Short(f.head)+", without this write-back: delete it, and sailplan pushes again") {
		t.Fatalf("with the branch taken: %v, want it named", err)
	}
	if got := f.stored(t); got != nil {
		t.Errorf("recorded %+v, want nothing", got)
	}
	if head := f.repo.Git(t, "rev-parse", branch); head != f.head {
		t.Errorf("the branch moved to %s", head)
	}
	f.repo.Git(t, "branch", "-D", branch)
	wb, err := w.Write(t.Context(), f.state)
	if err != nil || wb.Branch != branch || wb.Commit != f.repo.Git(t, "rev-parse", branch) {
		t.Errorf("once deleted: %+v, %v; want pushed to %s", wb, err, branch)
	}
}
