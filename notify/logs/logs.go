package logs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sailplan/sailplan/notify"
)

// remindEvery is how often a source that keeps failing with the same
// error is mentioned again: often enough to be seen in a log tail, rarely
// enough that an hour's outage is not thousands of lines.
const remindEvery = 10 * time.Minute

// Logger is the log's consumer of the event stream. Most events are one
// line; repeats of the same source error are not, so that a Git server
// that is down for a minute is a line, not one per poll.
type Logger struct {
	log *slog.Logger

	mu sync.Mutex
	// sourceErr and sourceSaid are the source error last logged and when.
	sourceErr  string
	sourceSaid time.Time
	// verdicts are the last analysis verdict per service.
	verdicts map[string]string
}

// New returns a consumer that writes to log.
func New(log *slog.Logger) *Logger {
	return &Logger{log: log, verdicts: map[string]string{}}
}

// Handle logs one event.
func (l *Logger) Handle(e notify.Event) {
	ctx := context.Background()
	switch e := e.(type) {
	case notify.SourceFailed:
		if msg, ok := l.sourceFailed(e); ok {
			l.log.Warn(msg, "source", e.Source, "err", e.Err)
		}
	case notify.SourceRecovered:
		l.mu.Lock()
		l.sourceErr = ""
		l.mu.Unlock()
		l.log.Info("source answers again", "source", e.Source, "down", e.Down.Round(time.Second))
	case notify.CommitSeen:
		l.log.Info("new commit", "commit", e.Commit.Short(), "author", e.Commit.Author, "subject", e.Commit.Subject())
	case notify.CommitRejected:
		l.log.Error("commit rejected, nothing applied", "commit", e.Commit.Short(), "author", e.Commit.Author, "reason", e.Reason,
			"err", strings.Join(e.Errors, "\n"))
	case notify.CommitApplying:
		l.log.Debug("applying commit", "commit", e.Commit.Short())
		// One line per warning, each with its file:line:col, as
		// `sailplan validate` prints them; they hold nothing back.
		for _, w := range e.Warnings {
			l.log.Warn("intent warning, applied anyway", "commit", e.Commit.Short(), "author", e.Commit.Author, "warning", w)
		}
	case notify.CommitApplied:
		l.log.Info("commit applied to every cluster", "commit", e.Commit.Short())
	case notify.ClusterSynced:
		l.changes(ctx, e.Cluster, e.Commit, e.Changes)
		level := slog.LevelDebug
		if e.Counts.Wrote() {
			level = slog.LevelInfo
		}
		l.log.Log(ctx, level, "cluster synced", "cluster", e.Cluster, "commit", notify.Short(e.Commit),
			"created", e.Counts.Created, "configured", e.Counts.Configured, "unchanged", e.Counts.Unchanged, "pruned", e.Counts.Pruned,
			"duration", e.Duration.Round(time.Millisecond))
	case notify.ClusterFailed:
		l.changes(ctx, e.Cluster, e.Commit, e.Changes)
		l.log.Error("cluster sync failed", "cluster", e.Cluster, "commit", notify.Short(e.Commit), "err", e.Err)
	case notify.ClusterUnreachable:
		l.log.Warn("cluster unreachable, will retry", "cluster", e.Cluster, "commit", notify.Short(e.Commit), "retry_in", e.RetryIn, "err", e.Err)
	case notify.ClusterRecovered:
		l.log.Info("cluster answers again", "cluster", e.Cluster, "down", e.Down.Round(time.Second))
	case notify.ClusterWaiting:
		l.log.Warn("cluster not applied: an earlier wave failed", "cluster", e.Cluster, "commit", notify.Short(e.Commit), "reason", e.Reason)
	case notify.ClusterExcluded:
		l.log.Info("cluster excluded: not applied, holds no wave", "cluster", e.Cluster, "wave", e.Wave)
	case notify.DriftCorrected:
		if e.Err != "" {
			l.log.Error("drift not corrected", "cluster", e.Cluster, "object", e.Object, "drift", e.Drift, "err", e.Err)
			return
		}
		l.log.Warn("drift corrected", "cluster", e.Cluster, "object", e.Object, "drift", e.Drift)
	case notify.PromotionsLoaded:
		l.log.Info("promotions loaded", "count", len(e.Promotions))
	case notify.AnalysisResult:
		l.mu.Lock()
		changed := l.verdicts[e.Service] != e.Verdict
		l.verdicts[e.Service] = e.Verdict
		l.mu.Unlock()
		level := slog.LevelDebug
		if changed {
			level = slog.LevelInfo
		}
		l.log.Log(ctx, level, "analysis", "service", e.Service, "candidate", e.Candidate, "verdict", e.Verdict, "summary", e.Summary)
	case notify.PromotionEvent:
		l.promotion(e)
	}
}

// sourceFailed says whether to log a source failure, and how: the first
// of a run and a changed error at once, the same one again only now and then.
func (l *Logger) sourceFailed(e notify.SourceFailed) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case e.Err != l.sourceErr:
		l.sourceErr, l.sourceSaid = e.Err, e.Time
		return "source failed; clusters keep the last applied commit", true
	case e.Time.Sub(l.sourceSaid) >= remindEvery:
		l.sourceSaid = e.Time
		return "source still failing", true
	}
	return "", false
}

func (l *Logger) changes(ctx context.Context, cluster, commit string, changes []notify.ObjectChange) {
	for _, c := range changes {
		l.log.Log(ctx, slog.LevelInfo, "applied", "cluster", cluster, "object", c.Object, "action", c.Action, "commit", notify.Short(commit))
	}
}

func (l *Logger) promotion(e notify.PromotionEvent) {
	p := e.Current()
	attrs := []any{"service", p.Service, "candidate", p.Candidate, "phase", p.Phase}
	switch e := e.(type) {
	case notify.PromotionStarted:
		l.log.Info("promotion started", attrs...)
	case notify.PromotionStepped:
		l.log.Info("promotion stepped", append(attrs, "wave", e.Wave, "weight", e.Weight)...)
	case notify.PromotionHolding:
		l.log.Info("promotion holding", append(attrs, "reason", e.Reason)...)
	case notify.ApprovalWaiting:
		l.log.Info("promotion waiting for approval", append(attrs, "wave", e.Wave, "weight", e.Weight)...)
	case notify.PromotionDecided:
		l.log.Info("promotion decided", append(attrs, "decision", e.Decision, "weight", e.Weight, "by", e.By, "via", e.Via, "message", e.Message)...)
	case notify.PromotionRolledBack:
		l.log.Warn("promotion rolled back", append(attrs, "reason", e.Reason, "by", e.By)...)
	case notify.PromotionPromoted:
		l.log.Info("promotion promoted", attrs...)
	case notify.PromotionAmended:
		l.log.Info("promotion amended", append(attrs, "by", e.By, "via", e.Via, "message", e.Message)...)
	case notify.PromotionWrittenBack:
		l.log.Info("promotion written back to git", append(attrs, "commit", notify.Short(e.Commit), "branch", e.Branch, "review", e.Review, "message", e.Message)...)
	case notify.PromotionNotWrittenBack:
		// A person has work to do: make the candidate stable in Git.
		l.log.Warn("promotion not written back to git", append(attrs, "reason", e.Reason)...)
	}
}
