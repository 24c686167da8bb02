package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	slackapi "github.com/slack-go/slack"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// Config configures the Slack notifier.
type Config struct {
	// Client talks to Slack's Web API with the bot token. Without one the
	// notifier is a dry run: it logs what it would have sent.
	Client *slackapi.Client
	// Channel is where commits go, and promotions whose intent names no
	// channel of its own.
	Channel string
	// Refs keeps each promotion's root message across restarts; in
	// memory when nil.
	Refs RefStore
	// Log receives delivery failures, dropped messages and, in a dry
	// run, the messages.
	Log *slog.Logger
	// QueueSize bounds the messages waiting for delivery (256 when 0).
	QueueSize int
	// Retry tunes retries; DefaultRetry when zero.
	Retry Retry
}

// Notifier tells Slack what the event stream says: commits applied or
// rejected, and each promotion in one message of its own, updated in
// place, with its transitions and decisions in the thread. Handle returns
// at once: messages go through a bounded queue that Run delivers,
// retrying while Slack is down or rate limiting, so that neither sync nor
// promotion ever waits for Slack.
type Notifier struct {
	api     *slackapi.Client
	channel string
	refs    RefStore
	log     *slog.Logger
	q       *queue

	mu sync.Mutex
	// waves and channels come from the latest commit's intents: each
	// cluster's wave, and each canary's approval.slack.channel.
	waves    map[string]int
	channels map[string]string
	roots    map[string]root // by service: the root messages known here
	analyses map[string]notify.AnalysisResult
}

// root is a Ref and whether the RefStore has it yet.
type root struct {
	Ref
	stored bool
}

var errNoChannel = errors.New("slack: no channel: give --slack-channel or approval.slack.channel in the intent")

// New returns a notifier; call Run to deliver its messages.
func New(c Config) *Notifier {
	if c.Refs == nil {
		c.Refs = &MemoryRefs{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{
		api: c.Client, channel: c.Channel, refs: c.Refs, log: c.Log,
		q:     newQueue(c.QueueSize, c.Retry, c.Log),
		roots: map[string]root{}, analyses: map[string]notify.AnalysisResult{},
	}
}

// Run delivers queued messages until ctx ends.
func (n *Notifier) Run(ctx context.Context) { n.q.run(ctx) }

// Drain waits until every queued message is delivered or given up on.
func (n *Notifier) Drain(ctx context.Context) error { return n.q.drain(ctx) }

// Handle turns one event into the messages it calls for, and queues them.
// It never blocks.
func (n *Notifier) Handle(e notify.Event) {
	switch e := e.(type) {
	case notify.CommitApplying:
		n.intents(e.Intents)
	case notify.CommitApplied:
		if wrote(e.Clusters) {
			n.mu.Lock()
			waves := n.waves
			n.mu.Unlock()
			n.deliver(e.Commit.Short(), send{target{to: toChannel, channel: n.channel}, commitApplied(e, waves)})
		}
	case notify.CommitRejected:
		first, full := commitRejected(e)
		sends := []send{{target{to: toChannel, channel: n.channel}, first}}
		for _, m := range full {
			sends = append(sends, send{target{to: toThread, channel: n.channel}, m})
		}
		n.deliver(e.Commit.Short(), sends...)
	case notify.AnalysisResult:
		n.analysis(e)
	case notify.PromotionEvent:
		n.promotion(e)
	}
}

// intents keeps what the messages need of a new commit's intents, which
// are shared and not to be kept whole.
func (n *Notifier) intents(in *schema.Intents) {
	if in == nil {
		return
	}
	waves, channels := map[string]int{}, map[string]string{}
	for name, c := range in.Fleet.Clusters {
		waves[name] = c.Wave
	}
	for name, svc := range in.Services {
		if c := svc.Canary; c != nil && c.Approval != nil && c.Approval.Slack != nil && c.Approval.Slack.Channel != "" {
			channels[name] = c.Approval.Slack.Channel
		}
	}
	n.mu.Lock()
	n.waves, n.channels = waves, channels
	n.mu.Unlock()
}

// channelFor is where a service's promotion is posted: its intent's
// channel, else the default.
func (n *Notifier) channelFor(service string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.channels[service]; c != "" {
		return c
	}
	return n.channel
}

// view is what a service's promotion messages show besides the promotion.
func (n *Notifier) view(p notify.Promotion) view {
	n.mu.Lock()
	defer n.mu.Unlock()
	v := view{clusters: clustersByWave(n.waves)}
	if a, ok := n.analyses[p.Service]; ok && a.Candidate == p.Candidate {
		v.analysis = &a
	}
	return v
}

// promotion updates the promotion's root message (posting it the first
// time) and replies in its thread with the transition or decision.
func (n *Notifier) promotion(e notify.PromotionEvent) {
	p := e.Current()
	v := n.view(p)
	reply, ok := promotionEvent(e, v)
	if !ok {
		return
	}
	channel := n.channelFor(p.Service)
	n.deliver(p.Service,
		send{target{to: toRoot, channel: channel, service: p.Service, candidate: p.Candidate, started: p.Started}, promotionRoot(p, v)},
		send{target{to: toPromotion, channel: channel, service: p.Service, candidate: p.Candidate}, reply})
}

// analysis remembers the last analysis of each service for the messages,
// and replies in the promotion's thread when its verdict changes.
func (n *Notifier) analysis(e notify.AnalysisResult) {
	n.mu.Lock()
	prev, seen := n.analyses[e.Service]
	n.analyses[e.Service] = e
	n.mu.Unlock()
	if seen && prev.Candidate == e.Candidate && prev.Verdict == e.Verdict {
		return
	}
	n.deliver(e.Service, send{target{to: toPromotion, channel: n.channelFor(e.Service), service: e.Service, candidate: e.Candidate}, analysisResult(e)})
}

// ephemeral answers one user, visible to them only.
func (n *Notifier) ephemeral(channel, user, text string) {
	n.deliver(user, send{target{to: toUser, channel: channel, user: user}, ephemeral(text)})
}

// rootOf returns the service's root message, from memory or the store.
func (n *Notifier) rootOf(ctx context.Context, service string) (Ref, bool, error) {
	n.mu.Lock()
	r, ok := n.roots[service]
	n.mu.Unlock()
	if ok {
		return r.Ref, true, nil
	}
	ref, ok, err := n.refs.Get(ctx, service)
	if err != nil || !ok {
		return Ref{}, false, err
	}
	n.mu.Lock()
	n.roots[service] = root{Ref: ref, stored: true}
	n.mu.Unlock()
	return ref, true, nil
}

// upsertRoot updates the promotion's root message, or posts it when this
// promotion has none yet.
func (n *Notifier) upsertRoot(ctx context.Context, t target, m message) error {
	r, ok, err := n.rootOf(ctx, t.service)
	if err != nil {
		// The store is unreachable: posting now could duplicate the root.
		return err
	}
	if ok && r.of(t.candidate, t.started) {
		_, _, _, err := n.api.UpdateMessageContext(ctx, r.Channel, r.TS, slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...))
		if err != nil {
			return fmt.Errorf("slack: chat.update %s: %w", t.service, err)
		}
		return nil
	}
	ch, ts, err := n.post(ctx, t.channel, "", m)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.roots[t.service] = root{Ref: Ref{Candidate: t.candidate, Started: t.started, Channel: ch, TS: ts}}
	n.mu.Unlock()
	return nil
}

// storeRef saves a newly posted root message, so that a restarted daemon
// updates it instead of posting another. It is its own call so that a
// failure to store is retried without posting again.
func (n *Notifier) storeRef(ctx context.Context, service string) error {
	n.mu.Lock()
	r, ok := n.roots[service]
	n.mu.Unlock()
	if !ok || r.stored {
		return nil
	}
	if err := n.refs.Put(ctx, service, r.Ref); err != nil {
		return err
	}
	n.mu.Lock()
	if cur := n.roots[service]; cur.Ref == r.Ref {
		cur.stored = true
		n.roots[service] = cur
	}
	n.mu.Unlock()
	return nil
}

// reply replies in the thread of the promotion of t's candidate; there is
// none to reply to when another candidate's promotion has the thread (an
// analysis of a candidate already replaced).
func (n *Notifier) reply(ctx context.Context, t target, m message) error {
	r, ok, err := n.rootOf(ctx, t.service)
	if err != nil {
		return err
	}
	if !ok || r.Candidate != t.candidate {
		n.log.Debug("slack: no thread to reply in", "service", t.service, "candidate", t.candidate, "kind", m.Kind)
		return nil
	}
	_, _, err = n.post(ctx, r.Channel, r.TS, m)
	return err
}

// post posts m to channel, in the thread of ts when it is not empty, and
// returns the channel's ID and the new message's ts.
func (n *Notifier) post(ctx context.Context, channel, thread string, m message) (string, string, error) {
	if channel == "" {
		return "", "", errNoChannel
	}
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...), slackapi.MsgOptionDisableLinkUnfurl()}
	if thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(thread))
	}
	ch, ts, err := n.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", "", fmt.Errorf("slack: chat.postMessage %s to %s: %w", m.Kind, channel, err)
	}
	return ch, ts, nil
}

// postEphemeral shows m to user only, in channel.
func (n *Notifier) postEphemeral(ctx context.Context, t target, m message) error {
	_, err := n.api.PostEphemeralContext(ctx, t.channel, t.user, slackapi.MsgOptionText(m.Text, false), slackapi.MsgOptionBlocks(m.Blocks...))
	if err != nil {
		return fmt.Errorf("slack: chat.postEphemeral to %s: %w", t.user, err)
	}
	return nil
}
