package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
)

type fakeLoop struct {
	rounds int64
	last   time.Time
}

func (f *fakeLoop) Progress() (int64, time.Time) { return f.rounds, f.last }

func probe(t *testing.T, h *health, path string) (int, string) {
	t.Helper()
	mux := http.NewServeMux()
	for path, handler := range h.probes() {
		mux.Handle("GET "+path, handler)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// TestProbes: what each probe answers in each situation, word for word.
func TestProbes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := t0
	loop := &fakeLoop{}
	model := notify.NewModel()
	h := &health{loop: loop, model: model, stall: 10 * time.Minute, now: func() time.Time { return clock }}
	check := func(what, path string, code int, body string) {
		t.Helper()
		if gotCode, gotBody := probe(t, h, path); gotCode != code || gotBody != body {
			t.Errorf("%s: %s = %d %q, want %d %q", what, path, gotCode, gotBody, code, body)
		}
	}
	check("standby", "/livez", 200, "ok: standby")
	check("standby", "/readyz", 200, "ready: standby")

	h.lead(true)
	check("leading, before the first sync", "/readyz", 503, "not ready: the first sync is not done")
	check("leading, before the first sync", "/livez", 200, "ok: leader")
	loop.rounds, loop.last = 1, clock
	check("after the first sync", "/readyz", 200, "ready: leader")

	model.Handle(notify.SourceFailed{At: notify.At{Time: clock}, Source: "git http://git/intents", Err: "listing references: connection refused"})
	check("source down", "/readyz", 503, "not ready: the source does not answer: listing references: connection refused")
	check("source down", "/livez", 200, "ok: leader")

	clock = clock.Add(11 * time.Minute)
	check("wedged", "/livez", 503, "not live: the sync loop has completed no round for 11m0s (bound 10m0s)")
	check("wedged, as /healthz", "/healthz", 503, "not live: the sync loop has completed no round for 11m0s (bound 10m0s)")

	// A replica that just took over is given the bound from then.
	h.lead(true)
	check("just leading", "/livez", 200, "ok: leader")
}
