package slack

import (
	"context"
	"time"
)

// placement is how a message is placed in Slack.
type placement int

const (
	// toChannel posts a new message in the channel.
	toChannel placement = iota
	// toThread replies in the thread of the message the same send posted
	// last with toChannel: a rejected commit's full errors.
	toThread
	// toRoot is a promotion's root message: posted once, then updated.
	toRoot
	// toPromotion replies in the thread of the promotion's root message.
	toPromotion
	// toUser is an ephemeral message to one user.
	toUser
)

// as names placements in the dry run's log.
var as = map[placement]string{
	toChannel:   "post",
	toThread:    "thread reply",
	toRoot:      "root post or update",
	toPromotion: "thread reply",
	toUser:      "ephemeral",
}

// target is where a message goes.
type target struct {
	to placement
	// channel is where the message is posted, or for a reply where the
	// thread is meant to be (the dry run logs it); for toUser, where the
	// user clicked.
	channel string
	// service and candidate name the promotion of toRoot and
	// toPromotion; started tells the root of one promotion from the next.
	service, candidate string
	started            time.Time
	user               string
}

// send is one message and where it goes.
type send struct {
	target
	m message
}

// deliver sends the messages of one event, in order, through the queue;
// without a client it logs them instead, one line each, as the dry run
// that shows what Slack would say before anyone creates the app. key
// names what they are about (a commit, a service, a user) in the logs.
func (n *Notifier) deliver(key string, sends ...send) {
	if len(sends) == 0 {
		return
	}
	if n.api == nil {
		for _, s := range sends {
			channel := s.channel
			if channel == "" {
				channel = "(no channel)"
			}
			n.log.Info("slack message not sent (no token)", "kind", s.m.Kind, "channel", channel, "as", as[s.to], "text", s.m.Text, "key", key)
		}
		return
	}
	n.q.push(job{key: key, kind: sends[len(sends)-1].m.Kind, ops: n.ops(sends)})
}

// ops are the Slack calls of sends, each retried on its own.
func (n *Notifier) ops(sends []send) []op {
	// The message last posted to a channel, for the replies in its thread.
	var channel, ts string
	var ops []op
	for _, s := range sends {
		switch s.to {
		case toChannel:
			ops = append(ops, func(ctx context.Context) (err error) {
				channel, ts, err = n.post(ctx, s.channel, "", s.m)
				return err
			})
		case toThread:
			ops = append(ops, func(ctx context.Context) error {
				_, _, err := n.post(ctx, channel, ts, s.m)
				return err
			})
		case toRoot:
			ops = append(ops,
				func(ctx context.Context) error { return n.upsertRoot(ctx, s.target, s.m) },
				func(ctx context.Context) error { return n.storeRef(ctx, s.service) })
		case toPromotion:
			ops = append(ops, func(ctx context.Context) error { return n.reply(ctx, s.target, s.m) })
		case toUser:
			ops = append(ops, func(ctx context.Context) error { return n.postEphemeral(ctx, s.target, s.m) })
		}
	}
	return ops
}
