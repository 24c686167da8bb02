package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/sync/webhook"
	"github.com/sailplan/sailplan/testenv"
)

// gatedSource counts a source's calls and, while gated, holds Head until
// the gate opens, so a test can keep a sync in progress.
type gatedSource struct {
	Source
	heads, fetches atomic.Int64

	mu      gosync.Mutex
	gate    chan struct{}
	entered chan struct{}
}

func (s *gatedSource) Head(ctx context.Context) (string, error) {
	s.heads.Add(1)
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return s.Source.Head(ctx)
}

func (s *gatedSource) Fetch(ctx context.Context) (*source.Revision, error) {
	s.fetches.Add(1)
	return s.Source.Fetch(ctx)
}

// hold makes the next Head wait; it returns a channel that receives once
// a Head is waiting, and the function that opens the gate.
func (s *gatedSource) hold() (entered <-chan struct{}, open func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gate, in := make(chan struct{}), make(chan struct{}, 1)
	s.gate, s.entered = gate, in
	return in, func() {
		s.mu.Lock()
		s.gate, s.entered = nil, nil
		s.mu.Unlock()
		close(gate)
	}
}

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30s", what)
	}
}

// TestWebhookSync is the push path end to end: a signed GitHub webhook
// makes the daemon apply the new commit in every cluster with no poll in
// between; a burst of pushes, each with its webhook, while a sync is in
// progress leads to one fetch, of the newest commit; and syncs while the
// head does not move fetch no objects from the Git server.
func TestWebhookSync(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	traffic := fixture.NewGitTraffic(t, srv.URL())
	first := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "90/10")

	var log testenv.LogBuffer
	r := newReconciler(t, traffic.URL(repo), ns, &log)
	src := &gatedSource{Source: r.Source}
	r.Source = src
	hook, err := webhook.New(webhook.Config{Provider: webhook.GitHub, Secret: []byte(fixture.HookSecret), Ref: "refs/heads/main", Trigger: r.Trigger, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(hook)
	t.Cleanup(hooks.Close)
	deliveries := 0
	push := func(v1, v2 int) string {
		commit := repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, v1, v2)}, "weights")
		deliveries++
		d := fixture.Signed(webhook.GitHub, fixture.HookSecret, fmt.Sprintf("delivery-%d", deliveries), fixture.PushBody("refs/heads/main"))
		if code, body := d.Send(t, hooks.URL); code != http.StatusAccepted {
			t.Fatalf("webhook for %s: %d %s", commit[:7], code, body)
		}
		return commit
	}

	// An hour between polls: only the webhook can bring a commit in.
	runReconciler(t, r, time.Hour)
	waitApplied(t, r, first)
	checkClusters(t, ns, 90, 10)

	second := push(50, 50)
	waitApplied(t, r, second)
	for name, o := range checkClusters(t, ns, 50, 50) {
		if o.commit != second {
			t.Errorf("cluster %s: commit %s, want %s", name, o.commit, second)
		}
	}

	// A burst: the first webhook's sync is held in Head while three more
	// commits are pushed, each announced by a webhook.
	entered, open := src.hold()
	forced := fixture.Signed(webhook.GitHub, fixture.HookSecret, "delivery-burst", fixture.PushBody("refs/heads/main"))
	if code, body := forced.Send(t, hooks.URL); code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", code, body)
	}
	waitFor(t, "the burst's first sync", entered)
	fetchesBefore := src.fetches.Load()
	push(60, 40)
	push(70, 30)
	newest := push(80, 20)
	open()
	waitApplied(t, r, newest)
	if n := src.fetches.Load() - fetchesBefore; n != 1 {
		t.Errorf("a burst of 4 webhooks and 3 pushes fetched %d times, want 1 (the newest commit)", n)
	}
	for name, o := range checkClusters(t, ns, 80, 20) {
		if o.commit != newest {
			t.Errorf("cluster %s: commit %s, want the newest %s", name, o.commit, newest)
		}
	}
	// The head does not move: syncs ask for it and transfer no objects.
	_, packs := traffic.Counts()
	for range 3 {
		if err := r.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, after := traffic.Counts(); after != packs {
		t.Errorf("3 syncs of an unmoved head sent %d pack requests, want 0", after-packs)
	}
}

// TestGitServerDown takes the Git server away under a running daemon: the
// clusters keep the last good commit, the daemon keeps asking, and once
// the server is back the commit pushed meanwhile is applied.
func TestGitServerDown(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	good := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "90/10")
	var log testenv.LogBuffer
	r := newReconciler(t, repo.URL(), ns, &log)
	src := &gatedSource{Source: r.Source}
	r.Source = src
	runReconciler(t, r, 200*time.Millisecond)
	waitApplied(t, r, good)

	srv.Stop()
	pushed := repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 40, 60)}, "40/60 while the server is down")
	heads := src.heads.Load()
	eventually(t, 30*time.Second, "three failed polls", func() error {
		st := r.Status()
		if n := src.heads.Load() - heads; n < 3 || st.Source.Error == "" {
			return errors.New("still waiting")
		}
		return nil
	})
	st := r.Status()
	if !strings.Contains(st.Source.Error, "connection refused") || applied(st) != good || st.Healthy() {
		t.Errorf("while down: applied %s, source error %q, healthy %v; want %s, a refused connection, not healthy", applied(st), st.Source.Error, st.Healthy(), good)
	}
	if strings.HasPrefix(st.Source.Error, "git ") {
		t.Errorf("source error %q repeats its subject, the source", st.Source.Error)
	}
	if n := strings.Count(log.String(), "source failed"); n != 1 {
		t.Errorf("%d log lines say the source failed, over %d polls; want one:\n%s", n, src.heads.Load()-heads, log.String())
	}
	if n := src.fetches.Load(); n != 1 {
		t.Errorf("%d fetches while the server was down, want only the first commit's", n)
	}
	for name, o := range checkClusters(t, ns, 90, 10) {
		if o.commit != good {
			t.Errorf("cluster %s: commit %s while Git is down, want the last good %s", name, o.commit, good)
		}
	}

	srv.Start(t)
	waitApplied(t, r, pushed)
	if st := r.Status(); st.Source.Error != "" || !st.Healthy() {
		t.Errorf("after the server is back: source %+v, healthy %v", st.Source, st.Healthy())
	}
	if !strings.Contains(log.String(), "source answers again") {
		t.Errorf("the log does not say the source is back:\n%s", log.String())
	}
	for name, o := range checkClusters(t, ns, 40, 60) {
		if o.commit != pushed {
			t.Errorf("cluster %s: commit %s, want %s", name, o.commit, pushed)
		}
	}
}

// TestVerifiedSync: with signature verification on, an unsigned head and
// a head signed by an unknown key are not applied anywhere, the reason is
// reported on every sync without fetching the commit again, and the next
// properly signed commit is applied.
func TestVerifiedSync(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	traffic := fixture.NewGitTraffic(t, srv.URL())
	trusted, trustedPub := fixture.NewKey(t, "Trusted")
	stranger, _ := fixture.NewKey(t, "Stranger")
	var log testenv.LogBuffer
	r := newReconciler(t, traffic.URL(repo), ns, &log)
	r.Source = &source.GitSource{URL: traffic.URL(repo), VerifyKeys: trustedPub}

	good := fixture.SignedCommit(t, repo, trusted, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "signed 90/10")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatalf("sync: %v\n%s", err, log.String())
	}
	checkClusters(t, ns, 90, 10)

	for _, tc := range []struct {
		name   string
		commit func() string
		reason string
	}{
		{"unsigned", func() string {
			return repo.Commit(t, map[string]string{"reviews.cue": serviceCUE(ns, 0, 100)}, "unsigned 0/100")
		}, "not signed"},
		{"unknown key", func() string {
			return fixture.SignedCommit(t, repo, stranger, map[string]string{"reviews.cue": serviceCUE(ns, 10, 90)}, "stranger 10/90")
		}, "signed by unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.commit()
			want := "commit " + bad[:7] + ": " + tc.reason
			// Twice: the second sync must refuse the commit again, not apply it.
			for range 2 {
				if err := r.Sync(t.Context()); err != nil && (!strings.Contains(err.Error(), want) || !errors.As(err, new(*source.RefusedError))) {
					t.Fatalf("sync error = %v, want none or a RefusedError with %q", err, want)
				}
			}
			st := r.Status()
			c := st.Commits[0]
			if c.Commit.Hash != bad || c.Fate != notify.FateRejected || c.Reason != notify.RejectedSignature || len(c.Errors) != 1 || !strings.HasPrefix(c.Errors[0], want) || c.Commit.Author != testenv.GitAuthorName || applied(st) != good {
				t.Errorf("status: newest %+v, applied %s; want %s rejected for its signature (%q), %s applied", c, applied(st), bad, want, good)
			}
			for name, o := range checkClusters(t, ns, 90, 10) {
				if o.commit != good {
					t.Errorf("cluster %s: commit %s, want the last signed %s", name, o.commit, good)
				}
			}
		})
	}
	_, packs := traffic.Counts()
	if packs != 3 {
		t.Errorf("%d pack requests, want 3: each commit fetched once, refused ones not again", packs)
	}

	fixed := fixture.SignedCommit(t, repo, trusted, map[string]string{"reviews.cue": serviceCUE(ns, 50, 50)}, "signed 50/50")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, o := range checkClusters(t, ns, 50, 50) {
		if o.commit != fixed {
			t.Errorf("cluster %s: commit %s, want %s", name, o.commit, fixed)
		}
	}
}

// TestRefusedFilesRejectTheCommit: a commit with a symbolic link among its
// intent files is rejected once, as invalid, naming the link and its
// author, and not fetched again; it is not a failure of the source.
func TestRefusedFilesRejectTheCommit(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	traffic := fixture.NewGitTraffic(t, srv.URL())
	var log testenv.LogBuffer
	r := newReconciler(t, traffic.URL(repo), ns, &log)
	good := repo.Commit(t, map[string]string{"fleet.cue": fleetCUE, "reviews.cue": serviceCUE(ns, 90, 10)}, "90/10")
	if err := r.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.Dir, "passwd.cue")); err != nil {
		t.Fatal(err)
	}
	fixture.GitIn(t, repo.Dir, "add", "passwd.cue")
	fixture.GitIn(t, repo.Dir, "commit", "-q", "-m", "a link")
	fixture.GitIn(t, repo.Dir, "push", "-q", "origin", "main")
	bad := strings.TrimSpace(fixture.GitIn(t, repo.Dir, "rev-parse", "HEAD"))
	for range 3 {
		if err := r.Sync(t.Context()); err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
	st := r.Status()
	c := st.Commits[0]
	want := "passwd.cue: symbolic link to /etc/passwd, which sailplan does not follow"
	if c.Commit.Hash != bad || c.Fate != notify.FateRejected || c.Reason != notify.RejectedInvalid || len(c.Errors) != 1 ||
		!strings.HasPrefix(c.Errors[0], want) || c.Commit.Author != testenv.GitAuthorName || applied(st) != good || st.Source.Error != "" {
		t.Errorf("status: newest %+v, applied %s, source %+v; want %s rejected for %q", c, applied(st), st.Source, bad, want)
	}
	if _, packs := traffic.Counts(); packs != 2 {
		t.Errorf("%d pack requests, want 2: the rejected commit is fetched once", packs)
	}
}
