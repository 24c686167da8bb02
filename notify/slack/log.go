package slack

import (
	"context"
	"log/slog"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
)

// Log is the notifier without a Slack token: it logs, one structured line
// per message, what the Slack notifier would have sent, built by the same
// code. It is the default, so a demo or a new installation shows what
// Slack would say before anyone creates the app.
type Log struct {
	Log *slog.Logger
	// Channel is the default channel, as --slack-channel would give it.
	Channel string
	// Clusters gives the fleet's clusters by wave; may be nil.
	Clusters func() map[int][]string
}

func (l *Log) would(m message, channel, how string, attrs ...any) {
	if channel == "" {
		channel = "(no channel)"
	}
	l.Log.Info("slack message not sent (no token)", append([]any{"kind", m.Kind, "channel", channel, "as", how, "text", m.Text}, attrs...)...)
}

// CommitApplied logs the applied-commit message, unless nothing was written.
func (l *Log) CommitApplied(_ context.Context, rev *source.Revision, clusters map[string]apply.ClusterStatus) {
	if !wrote(clusters) {
		return
	}
	l.would(commitApplied(rev, clusters), l.Channel, "post", "commit", rev.Short())
}

// CommitRejected logs the rejected-commit message and its thread replies.
func (l *Log) CommitRejected(_ context.Context, commit string, rev *source.Revision, err error) {
	root, full := commitRejected(commit, rev, err)
	l.would(root, l.Channel, "post", "commit", source.Short(commit))
	for _, m := range full {
		l.would(m, l.Channel, "thread reply", "commit", source.Short(commit))
	}
}

// Notify logs the promotion's root message update and the thread reply.
func (l *Log) Notify(_ context.Context, st *promote.State, e promote.Event) {
	v := view{}
	if l.Clusters != nil {
		v.clusters = l.Clusters()
	}
	channel := st.Channel
	if channel == "" {
		channel = l.Channel
	}
	l.would(promotionRoot(st, v), channel, "root post or update", "service", st.Service)
	l.would(promotionEvent(st, e, v), channel, "thread reply", "service", st.Service)
}
