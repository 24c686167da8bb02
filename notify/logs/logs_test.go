package logs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// lines runs events through a Logger and returns the log's lines without
// their time.
func lines(t *testing.T, level slog.Level, events ...notify.Event) []string {
	t.Helper()
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})))
	for _, e := range events {
		l.Handle(e)
	}
	return strings.Split(strings.TrimSpace(buf.String()), "\n")
}

// TestSourceOutageIsOneLine: a Git server gone for 30 s, polled every
// second, is one line when it fails and one when it is back, not 31.
func TestSourceOutageIsOneLine(t *testing.T) {
	src := "git http://127.0.0.1:1/intents branch main"
	var events []notify.Event
	for i := range 31 {
		events = append(events, notify.SourceFailed{At: notify.At{Time: t0.Add(time.Duration(i) * time.Second)}, Source: src, Err: "repository not found"})
	}
	events = append(events, notify.SourceRecovered{At: notify.At{Time: t0.Add(31 * time.Second)}, Source: src, Down: 31 * time.Second})
	want := []string{
		`level=WARN msg="source failed; clusters keep the last applied commit" source="git http://127.0.0.1:1/intents branch main" err="repository not found"`,
		`level=INFO msg="source answers again" source="git http://127.0.0.1:1/intents branch main" down=31s`,
	}
	if diff := cmp.Diff(want, lines(t, slog.LevelDebug, events...)); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestSourceReminder: the same error is said again after a while, and a
// different error at once.
func TestSourceReminder(t *testing.T) {
	src := "git http://git/intents branch main"
	fail := func(s time.Duration, err string) notify.Event {
		return notify.SourceFailed{At: notify.At{Time: t0.Add(s)}, Source: src, Err: err}
	}
	got := lines(t, slog.LevelDebug, fail(0, "a"), fail(time.Minute, "a"), fail(remindEvery, "a"), fail(remindEvery+time.Second, "b"))
	want := []string{
		`level=WARN msg="source failed; clusters keep the last applied commit" source="git http://git/intents branch main" err=a`,
		`level=WARN msg="source still failing" source="git http://git/intents branch main" err=a`,
		`level=WARN msg="source failed; clusters keep the last applied commit" source="git http://git/intents branch main" err=b`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestClusterLines(t *testing.T) {
	commit := "1f0c2a9" + strings.Repeat("0", 33)
	got := lines(t, slog.LevelInfo,
		notify.ClusterSynced{At: notify.At{Time: t0}, Cluster: "c1", Wave: 1, Commit: commit, Counts: notify.Counts{Created: 1, Unchanged: 3},
			Duration: 12 * time.Millisecond, Changes: []notify.ObjectChange{{Object: "VirtualService/shop/reviews", Action: "created"}}},
		notify.ClusterSynced{At: notify.At{Time: t0}, Cluster: "c2", Wave: 2, Commit: commit, Counts: notify.Counts{Unchanged: 4}},
		notify.ClusterUnreachable{At: notify.At{Time: t0}, Cluster: "c3", Wave: 2, Commit: commit, Err: "connection refused", RetryIn: 2 * time.Second},
	)
	want := []string{
		`level=INFO msg=applied cluster=c1 object=VirtualService/shop/reviews action=created commit=1f0c2a9`,
		`level=INFO msg="cluster synced" cluster=c1 commit=1f0c2a9 created=1 configured=0 unchanged=3 pruned=0 duration=12ms`,
		`level=WARN msg="cluster unreachable, will retry" cluster=c3 commit=1f0c2a9 retry_in=2s err="connection refused"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestPromotionLines(t *testing.T) {
	p := notify.Promotion{Service: "reviews", Candidate: "v2", Phase: "Paused"}
	got := lines(t, slog.LevelInfo,
		notify.PromotionDecided{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p}, Decision: notify.DecisionPause, By: "alice", Via: "cli", Message: "paused by alice"},
		notify.AnalysisResult{At: notify.At{Time: t0}, Service: "reviews", Candidate: "v2", Verdict: notify.Pass, Summary: "success 100%"},
		notify.AnalysisResult{At: notify.At{Time: t0}, Service: "reviews", Candidate: "v2", Verdict: notify.Pass, Summary: "success 100%"},
		notify.PromotionAmended{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p}, Message: "plan amended by commit 1a2b3c4: every: 8s → 6s", By: "Ann", Via: "git"},
		notify.PromotionWrittenBack{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p}, Commit: "89abcdef0123456789abcdef0123456789abcdef", Branch: "main",
			Message: "v2 made stable in Git by commit 89abcde on main"},
		notify.PromotionNotWrittenBack{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p},
			Reason: "the server refused the push to main: pre-receive hook declined (main is protected); make v2 stable in Git by hand, or let sailplan push a branch for review (--write-back=review)"},
	)
	want := []string{
		`level=INFO msg="promotion decided" service=reviews candidate=v2 phase=Paused decision=pause weight=0 by=alice via=cli message="paused by alice"`,
		`level=INFO msg=analysis service=reviews candidate=v2 verdict=pass summary="success 100%"`,
		`level=INFO msg="promotion amended" service=reviews candidate=v2 phase=Paused by=Ann via=git message="plan amended by commit 1a2b3c4: every: 8s → 6s"`,
		`level=INFO msg="promotion written back to git" service=reviews candidate=v2 phase=Paused commit=89abcde branch=main review=false message="v2 made stable in Git by commit 89abcde on main"`,
		`level=WARN msg="promotion not written back to git" service=reviews candidate=v2 phase=Paused reason="the server refused the push to main: pre-receive hook declined (main is protected); make v2 stable in Git by hand, or let sailplan push a branch for review (--write-back=review)"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestWarningLines: each warning of an applied commit is a line of its
// own, at level WARN.
func TestWarningLines(t *testing.T) {
	commit := "1f0c2a9" + strings.Repeat("0", 33)
	got := lines(t, slog.LevelInfo, notify.CommitApplying{At: notify.At{Time: t0}, Commit: notify.Commit{Hash: commit, Author: "Ana"},
		Warnings: []string{"pay.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates"}})
	want := []string{
		`level=WARN msg="intent warning, applied anyway" commit=1f0c2a9 author=Ana warning="pay.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}
