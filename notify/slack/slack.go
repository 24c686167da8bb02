package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/slack-go/slack"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/source"
)

// Config configures the Slack notifier.
type Config struct {
	// Client talks to Slack's Web API with the bot token.
	Client *slack.Client
	// Channel is where commits go, and promotions whose intent names no
	// channel of its own.
	Channel string
	// Refs keeps each promotion's root message across restarts; in
	// memory when nil.
	Refs RefStore
	// Clusters gives the fleet's clusters by wave, for the messages; may
	// be nil.
	Clusters func() map[int][]string
	// Log receives delivery failures and dropped messages.
	Log *slog.Logger
	// QueueSize bounds the messages waiting for delivery (256 when 0).
	QueueSize int
	// Retry tunes retries; DefaultRetry when zero.
	Retry Retry
}

// Slack posts sync and promotion news to Slack. Every method returns at
// once: messages go through a bounded queue that Run delivers, retrying
// while Slack is down or rate limiting, so neither sync nor promotion ever
// waits for Slack.
type Slack struct {
	api      *slack.Client
	channel  string
	refs     RefStore
	clusters func() map[int][]string
	log      *slog.Logger
	q        *queue

	mu       sync.Mutex
	roots    map[string]root // by service: the root messages known here
	analyses map[string]promote.Analysis
}

// root is a Ref and whether the RefStore has it yet.
type root struct {
	Ref
	stored bool
}

var errNoChannel = errors.New("slack: no channel: give --slack-channel or approval.slack.channel in the intent")

// NewSlack returns a notifier; call Run to deliver its messages.
func NewSlack(c Config) *Slack {
	if c.Refs == nil {
		c.Refs = &MemoryRefs{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Slack{
		api: c.Client, channel: c.Channel, refs: c.Refs, clusters: c.Clusters, log: c.Log,
		q:     newQueue(c.QueueSize, c.Retry, c.Log),
		roots: map[string]root{}, analyses: map[string]promote.Analysis{},
	}
}

// Run delivers queued messages until ctx ends.
func (s *Slack) Run(ctx context.Context) { s.q.run(ctx) }

// Drain waits until every queued message is delivered or given up on.
func (s *Slack) Drain(ctx context.Context) error { return s.q.drain(ctx) }

// CommitApplied posts an applied commit, unless it wrote nothing anywhere.
func (s *Slack) CommitApplied(_ context.Context, rev *source.Revision, clusters map[string]apply.ClusterStatus) {
	if !wrote(clusters) {
		return
	}
	m := commitApplied(rev, clusters)
	s.q.push(job{key: rev.Short(), kind: m.Kind, ops: []op{func(ctx context.Context) error {
		_, _, err := s.post(ctx, s.channel, "", m)
		return err
	}}})
}

// CommitRejected posts a refused commit with its first errors, and the
// full text in the thread.
func (s *Slack) CommitRejected(_ context.Context, commit string, rev *source.Revision, err error) {
	m, full := commitRejected(commit, rev, err)
	var channel, ts string
	ops := []op{func(ctx context.Context) error {
		var err error
		channel, ts, err = s.post(ctx, s.channel, "", m)
		return err
	}}
	for _, r := range full {
		ops = append(ops, func(ctx context.Context) error {
			_, _, err := s.post(ctx, channel, ts, r)
			return err
		})
	}
	s.q.push(job{key: source.Short(commit), kind: m.Kind, ops: ops})
}

// Notify updates the promotion's root message (posting it the first
// time) and replies in its thread with the transition.
func (s *Slack) Notify(_ context.Context, st *promote.State, e promote.Event) {
	snap, err := clone(st)
	if err != nil {
		s.log.Error("slack: promotion state not copied", "service", st.Service, "err", err)
		return
	}
	v := s.view(st.Service)
	rootMsg, reply := promotionRoot(snap, v), promotionEvent(snap, e, v)
	s.q.push(job{key: st.Service, kind: reply.Kind, ops: []op{
		func(ctx context.Context) error { return s.upsertRoot(ctx, snap, rootMsg) },
		func(ctx context.Context) error { return s.storeRef(ctx, snap.Service) },
		func(ctx context.Context) error { return s.reply(ctx, snap, reply) },
	}})
}

// Analyzer wraps an analyzer so that the last analysis of each service
// shows in its messages, and a changed verdict is posted in the thread.
func (s *Slack) Analyzer(next promote.Analyzer) promote.Analyzer {
	return analyzer{next: next, s: s}
}

type analyzer struct {
	next promote.Analyzer
	s    *Slack
}

func (a analyzer) Analyze(ctx context.Context, t promote.Target, plan schema.Analysis) promote.Analysis {
	var res promote.Analysis
	if a.next == nil {
		res = promote.Analysis{Verdict: promote.Unavailable, Summary: "no Prometheus configured"}
	} else {
		res = a.next.Analyze(ctx, t, plan)
	}
	a.s.mu.Lock()
	prev, seen := a.s.analyses[t.Service]
	a.s.analyses[t.Service] = res
	a.s.mu.Unlock()
	if !seen || prev.Verdict != res.Verdict {
		m := analysisResult(t.Service, res)
		a.s.q.push(job{key: t.Service, kind: m.Kind, ops: []op{func(ctx context.Context) error {
			r, ok, err := a.s.rootOf(ctx, t.Service)
			if err != nil || !ok || r.Candidate != t.Version {
				return err // no thread for this candidate yet: nothing to reply to
			}
			_, _, err = a.s.post(ctx, r.Channel, r.TS, m)
			return err
		}}})
	}
	return res
}

func (s *Slack) view(service string) view {
	v := view{}
	s.mu.Lock()
	if a, ok := s.analyses[service]; ok {
		v.analysis = &a
	}
	s.mu.Unlock()
	if s.clusters != nil {
		v.clusters = s.clusters()
	}
	return v
}

func (s *Slack) channelFor(st *promote.State) string {
	if st.Channel != "" {
		return st.Channel
	}
	return s.channel
}

// rootOf returns the service's root message, from memory or the store.
func (s *Slack) rootOf(ctx context.Context, service string) (Ref, bool, error) {
	s.mu.Lock()
	r, ok := s.roots[service]
	s.mu.Unlock()
	if ok {
		return r.Ref, true, nil
	}
	ref, ok, err := s.refs.Get(ctx, service)
	if err != nil || !ok {
		return Ref{}, false, err
	}
	s.mu.Lock()
	s.roots[service] = root{Ref: ref, stored: true}
	s.mu.Unlock()
	return ref, true, nil
}

// upsertRoot updates the promotion's root message, or posts it when this
// promotion has none yet.
func (s *Slack) upsertRoot(ctx context.Context, st *promote.State, m message) error {
	r, ok, err := s.rootOf(ctx, st.Service)
	if err != nil {
		// The store is unreachable: posting now could duplicate the root.
		return err
	}
	if ok && r.of(st.Candidate, st.Started) {
		_, _, _, err := s.api.UpdateMessageContext(ctx, r.Channel, r.TS, slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...))
		if err != nil {
			return fmt.Errorf("slack: chat.update %s: %w", st.Service, err)
		}
		return nil
	}
	channel := s.channelFor(st)
	if channel == "" {
		return errNoChannel
	}
	ch, ts, err := s.api.PostMessageContext(ctx, channel, slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...), slack.MsgOptionDisableLinkUnfurl())
	if err != nil {
		return fmt.Errorf("slack: chat.postMessage %s to %s: %w", st.Service, channel, err)
	}
	s.mu.Lock()
	s.roots[st.Service] = root{Ref: Ref{Candidate: st.Candidate, Started: st.Started, Channel: ch, TS: ts}}
	s.mu.Unlock()
	return nil
}

// storeRef saves a newly posted root message, so that a restarted daemon
// updates it instead of posting another. It is its own call so that a
// failure to store is retried without posting again.
func (s *Slack) storeRef(ctx context.Context, service string) error {
	s.mu.Lock()
	r, ok := s.roots[service]
	s.mu.Unlock()
	if !ok || r.stored {
		return nil
	}
	if err := s.refs.Put(ctx, service, r.Ref); err != nil {
		return err
	}
	s.mu.Lock()
	if cur := s.roots[service]; cur.Ref == r.Ref {
		cur.stored = true
		s.roots[service] = cur
	}
	s.mu.Unlock()
	return nil
}

func (s *Slack) reply(ctx context.Context, st *promote.State, m message) error {
	r, ok, err := s.rootOf(ctx, st.Service)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("slack: %s: no root message to reply to", st.Service)
	}
	_, _, err = s.post(ctx, r.Channel, r.TS, m)
	return err
}

// post posts m to channel, in the thread of ts when it is not empty, and
// returns the channel's ID and the new message's ts.
func (s *Slack) post(ctx context.Context, channel, thread string, m message) (string, string, error) {
	if channel == "" {
		return "", "", errNoChannel
	}
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...), slack.MsgOptionDisableLinkUnfurl()}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	ch, ts, err := s.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", "", fmt.Errorf("slack: chat.postMessage %s to %s: %w", m.Kind, channel, err)
	}
	return ch, ts, nil
}

// ephemeral answers one user, visible to them only.
func (s *Slack) ephemeral(channel, user, text string) {
	m := ephemeral(text)
	s.q.push(job{key: user, kind: m.Kind, ops: []op{func(ctx context.Context) error {
		_, err := s.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...))
		if err != nil {
			return fmt.Errorf("slack: chat.postEphemeral to %s: %w", user, err)
		}
		return nil
	}}})
}

// clone copies a state, which the controller goes on changing after
// Notify returns, for delivery later.
func clone(st *promote.State) (*promote.State, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var out promote.State
	return &out, json.Unmarshal(b, &out)
}

// ClustersByWave lists the fleet's clusters by wave, sorted; nil intents
// give nil.
func ClustersByWave(in *schema.Intents) map[int][]string {
	if in == nil {
		return nil
	}
	out := map[int][]string{}
	for name, c := range in.Fleet.Clusters {
		out[c.Wave] = append(out[c.Wave], name)
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}
