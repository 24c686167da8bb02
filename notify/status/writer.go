package status

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/util/flowcontrol"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/kube"
	"github.com/sailplan/sailplan/sync/loop"
)

// Backoff of a cluster whose copy could not be written.
const (
	retryBase = time.Second
	retryMax  = time.Minute
)

// Writer keeps the model's status in every cluster of the fleet (and in
// Extra ones, such as the home cluster), as a consumer of the event
// stream: whenever the status changes, each copy that differs is written,
// at the version last read, one cluster at a time never holding up the
// others. A status that does not change writes nothing, so a fleet at rest
// costs no write. Only one process should write: the leader.
type Writer struct {
	Place *Place
	Model *notify.Model
	// Extra are clusters (kubeconfig contexts) to keep the status in
	// besides the fleet's own.
	Extra []string
	// By names this process in the record.
	By  string
	Log *slog.Logger

	loop loop.Loop

	mu      sync.Mutex
	seen    uint64               // the model generation last looked at
	written map[string]written   // by cluster: what its copy holds
	failed  map[string]string    // by cluster: the error last logged
	retries *flowcontrol.Backoff // by cluster
}

type written struct {
	generation uint64
	version    string
}

func (w *Writer) init() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written == nil {
		w.written = map[string]written{}
		w.failed = map[string]string{}
		w.retries = flowcontrol.NewBackOff(retryBase, retryMax)
	}
}

// Handle wakes the writer when the status changed; it never blocks.
// Subscribe it after the model, so that the model has folded the event.
func (w *Writer) Handle(notify.Event) {
	w.init()
	gen := w.Model.Generation()
	w.mu.Lock()
	changed := gen != w.seen
	w.seen = gen
	w.mu.Unlock()
	if changed {
		w.loop.Ask()
	}
}

// Restore starts the model from the newest copy in the clusters (those
// of contexts, and Extra), so that what the clusters hold and since when
// survives a restart; and it remembers each copy's version. It returns
// the copies read, for the caller to report what could not be.
func (w *Writer) Restore(ctx context.Context, contexts []string) []Copy {
	w.init()
	copies := w.Place.Read(ctx, union(contexts, w.Extra))
	w.mu.Lock()
	for _, c := range copies {
		if c.Found {
			w.written[c.Cluster] = written{version: c.Version}
		}
	}
	w.mu.Unlock()
	if newest, ok := Newest(copies); ok {
		w.Model.Restore(newest.Record.Status)
	}
	return copies
}

// Run writes until ctx ends: at once, after each change, and again for
// the clusters that could not be written, with backoff.
func (w *Writer) Run(ctx context.Context) {
	w.init()
	var retry time.Duration
	next := func() time.Duration {
		if retry > 0 {
			return retry
		}
		// Nothing failed: the next write comes with the next change; an
		// hour is only the longest the loop sleeps.
		return time.Hour
	}
	w.loop.Name = "sailplan-status"
	w.loop.Run(ctx, next, func(ctx context.Context) { retry = w.Write(ctx) })
}

// Write writes every copy that differs from the status now, at once, and
// returns how long until a failed one should be tried again (0: none
// failed).
func (w *Writer) Write(ctx context.Context) time.Duration {
	w.init()
	st, gen := w.Model.Status()
	rec := Record{Status: st, WrittenBy: w.By, Written: time.Now().UTC()}
	targets := union(slices.Collect(maps.Keys(st.Clusters)), w.Extra)
	var wg sync.WaitGroup
	for _, name := range targets {
		w.mu.Lock()
		have := w.written[name]
		waiting := w.retries.IsInBackOffSinceUpdate(name, time.Now())
		w.mu.Unlock()
		if have.generation == gen || waiting {
			continue
		}
		wg.Go(func() { w.writeOne(ctx, name, rec, gen, have.version) })
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	var next time.Duration
	for name := range w.failed {
		if !slices.Contains(targets, name) {
			delete(w.failed, name) // left the fleet
			continue
		}
		if d := w.retries.Get(name); next == 0 || d < next {
			next = d
		}
	}
	return next
}

func (w *Writer) writeOne(ctx context.Context, name string, rec Record, gen uint64, version string) {
	err := w.put(ctx, name, rec, version, gen)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.retries.Reset(name)
		if _, ok := w.failed[name]; ok && w.Log != nil {
			w.Log.Info("status written again", "cluster", name)
		}
		delete(w.failed, name)
		return
	}
	if ctx.Err() != nil {
		return
	}
	w.retries.Next(name, time.Now())
	if w.failed[name] != err.Error() && w.Log != nil {
		w.Log.Warn("status not written, will retry", "cluster", name, "retry_in", w.retries.Get(name), "err", err)
	}
	w.failed[name] = err.Error()
}

// put writes one copy at the version last seen. This writer is the one
// whose status counts, so a copy changed meanwhile (by a daemon that led
// before) is read again and overwritten.
func (w *Writer) put(ctx context.Context, name string, rec Record, version string, gen uint64) error {
	c, err := w.Place.client(ctx, name)
	if err != nil {
		return err
	}
	docs := w.Place.docs(c)
	v, err := docs.Put(ctx, w.Place.Name, rec, version)
	if errors.Is(err, kube.ErrConflict) {
		var old Record
		if version, _, err = docs.Get(ctx, w.Place.Name, &old); err != nil {
			return err
		}
		v, err = docs.Put(ctx, w.Place.Name, rec, version)
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.written[name] = written{generation: gen, version: v}
	w.mu.Unlock()
	return nil
}

// union is a and b without repeats, sorted.
func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
