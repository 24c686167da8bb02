package slack

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
	"k8s.io/apimachinery/pkg/util/wait"
)

// op is one Slack API call.
type op func(ctx context.Context) error

// job is the calls for one notification, in order: posting a promotion's
// root message before replying in its thread, say. Each call is retried
// on its own, so a call that succeeded is never made again: a retry
// updates or continues, it does not post a duplicate.
type job struct {
	key, kind string
	ops       []op
}

// Retry tunes how the queue retries a failed call.
type Retry struct {
	// Attempts is how many times a call is tried before it is dropped.
	Attempts int
	// Initial and Max bound the exponential backoff after a 5xx or a
	// connection error; a 429 waits for its Retry-After instead.
	Initial, Max time.Duration
}

// DefaultRetry keeps trying for about eight minutes (waits of 1 s
// doubling to 256 s): long enough for a short Slack incident to pass,
// short enough that stale news is dropped.
var DefaultRetry = Retry{Attempts: 10, Initial: time.Second, Max: 5 * time.Minute}

// queue delivers jobs from one goroutine, in the order they came, so that
// a promotion's messages arrive in order and a 429 holds back every call
// (Slack's limits are per app and workspace anyway). Pushing never
// blocks: sync and promotion must not wait for Slack. When the queue is
// full, the new job is dropped and logged.
type queue struct {
	jobs  chan job
	retry Retry
	log   *slog.Logger
	// sleep waits between attempts; tests record the waits instead.
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	pending int
	idle    chan struct{}
}

func newQueue(size int, retry Retry, log *slog.Logger) *queue {
	if size <= 0 {
		size = 256
	}
	if retry.Attempts <= 0 {
		retry = DefaultRetry
	}
	idle := make(chan struct{})
	close(idle)
	return &queue{jobs: make(chan job, size), retry: retry, log: log, sleep: sleepCtx, idle: idle}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// push queues j without blocking; false when the queue is full.
func (q *queue) push(j job) bool {
	q.mu.Lock()
	q.pending++
	if q.pending == 1 {
		q.idle = make(chan struct{})
	}
	q.mu.Unlock()
	select {
	case q.jobs <- j:
		return true
	default:
		q.done()
		q.log.Warn("slack: queue full, message dropped", "key", j.key, "kind", j.kind, "size", cap(q.jobs))
		return false
	}
}

func (q *queue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending--
	if q.pending == 0 {
		close(q.idle)
	}
}

// drain waits until every queued job has been delivered or dropped.
func (q *queue) drain(ctx context.Context) error {
	q.mu.Lock()
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run delivers jobs until ctx ends.
func (q *queue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-q.jobs:
			q.deliver(ctx, j)
			q.done()
		}
	}
}

func (q *queue) deliver(ctx context.Context, j job) {
	for i, o := range j.ops {
		if err := q.call(ctx, o); err != nil {
			// Later calls depend on this one (a reply needs its root).
			q.log.Error("slack: message not delivered", "key", j.key, "kind", j.kind, "call", i+1, "of", len(j.ops), "err", err)
			return
		}
	}
}

// call makes one call, retrying it while Slack is rate limiting or
// failing: a 429 waits what Slack asks for, anything else worth retrying
// the next step of an exponential backoff with jitter, so that daemons do
// not retry in step.
func (q *queue) call(ctx context.Context, o op) error {
	backoff := wait.Backoff{Duration: q.retry.Initial, Factor: 2, Jitter: 0.1, Steps: q.retry.Attempts, Cap: q.retry.Max}
	for attempt := 1; ; attempt++ {
		err := o(ctx)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= q.retry.Attempts || ctx.Err() != nil {
			return err
		}
		d, ok := retryAfter(err)
		if !ok {
			// Slack said when for a 429; its wait says nothing about an
			// outage, so only other failures move the backoff on.
			d = backoff.Step()
		}
		q.log.Warn("slack: call failed, retrying", "attempt", attempt, "wait", d, "err", err)
		if serr := q.sleep(ctx, d); serr != nil {
			return errors.Join(err, serr)
		}
	}
}

// retryAfter is the wait a 429 asks for (at least a second).
func retryAfter(err error) (time.Duration, bool) {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, time.Second), true
	}
	return 0, false
}

// retryable says whether err is worth retrying: a 429, a 5xx, a
// connection error, a timeout, a response that did not parse. Slack's own
// error answers (not_in_channel, invalid_auth) and other 4xx are
// permanent.
func retryable(err error) bool {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return true
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code >= 500
	}
	var se slackapi.SlackErrorResponse
	return !errors.As(err, &se) && !errors.Is(err, context.Canceled) && !errors.Is(err, errBadValue) && !errors.Is(err, errNoChannel)
}
