package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sailplan/sailplan/notify"
)

// progress is what health reads of the sync loop: *sync.Reconciler.
type progress interface {
	Progress() (rounds int64, last time.Time)
}

// health answers Kubernetes' probes with what this replica can do.
//
//   - /livez fails when this replica leads and its sync loop has completed
//     no round for the stall bound: the loop is wedged, and a restart is
//     the way out. A standby is alive while it waits for the lease.
//   - /readyz says whether this replica can do its job now: a standby can
//     (it takes webhooks and Slack clicks, and waits to lead); a leader
//     once its first sync is done (caches filled) and while the Git source
//     answers.
type health struct {
	loop  progress
	model *notify.Model
	// stall is how long the leader's loop may go without completing a
	// round before liveness fails.
	stall time.Duration
	now   func() time.Time

	leading atomic.Bool
	since   atomic.Int64 // when this replica started leading, Unix nanoseconds
}

// lead records that this replica leads (true) or stopped leading.
func (h *health) lead(on bool) {
	if on {
		h.since.Store(h.now().UnixNano())
	}
	h.leading.Store(on)
}

func (h *health) livez(w http.ResponseWriter, _ *http.Request) {
	if !h.leading.Load() {
		fmt.Fprintln(w, "ok: standby")
		return
	}
	_, last := h.loop.Progress()
	since := time.Unix(0, h.since.Load())
	if last.Before(since) {
		last = since
	}
	if stalled := h.now().Sub(last); stalled > h.stall {
		http.Error(w, fmt.Sprintf("not live: the sync loop has completed no round for %s (bound %s)", stalled.Round(time.Second), h.stall), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok: leader")
}

func (h *health) readyz(w http.ResponseWriter, _ *http.Request) {
	if !h.leading.Load() {
		fmt.Fprintln(w, "ready: standby")
		return
	}
	if rounds, _ := h.loop.Progress(); rounds == 0 {
		http.Error(w, "not ready: the first sync is not done", http.StatusServiceUnavailable)
		return
	}
	if st, _ := h.model.Status(); st.Source.Error != "" {
		http.Error(w, fmt.Sprintf("not ready: the source does not answer: %s", st.Source.Error), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready: leader")
}

// probes are the probes by path, for the server to serve on every port;
// /healthz stays as liveness for the probes of earlier manifests.
func (h *health) probes() map[string]http.Handler {
	return map[string]http.Handler{
		"/livez":   http.HandlerFunc(h.livez),
		"/healthz": http.HandlerFunc(h.livez),
		"/readyz":  http.HandlerFunc(h.readyz),
	}
}
