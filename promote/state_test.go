package promote

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// TestPlanDigestUnchanged: the digests of plans as users write them are
// the ones sailplan stored before durations were decoded into
// time.Duration, so promotions in flight during an upgrade keep their
// step instead of starting over at 0 %.
func TestPlanDigestUnchanged(t *testing.T) {
	in, err := schema.Load(schema.Files{"r.cue": []byte(`package intents
services: reviews: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [5, 50, 100]
		every: "1h30m"
		window: "* 9-17 * * 1-5"
		blackouts: [{start: "0 18 * * 5", duration: "62h"}, {start: "0 12 * * *", duration: "45m"}]
		analysis: latencyP99: "1.5s"
	}
}
services: ratings: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {stable: "v1", candidate: "v2", steps: [10, 100]}
}
`)})
	if err != nil {
		t.Fatal(err)
	}
	// Computed by sailplan a10a73e, which kept durations as text.
	for name, want := range map[string]string{"reviews": "e5b17e0045601697", "ratings": "613ca61eb42d038b"} {
		if got := planDigest(in.Services[name].Canary); got != want {
			t.Errorf("plan digest of %s = %s, want %s as before", name, got, want)
		}
	}
}

// TestOldStateLoads: a state as sailplan stored it before promotions kept
// their plan loads, follows the same plan without a change, and is
// amended, not restarted, by a changed one.
func TestOldStateLoads(t *testing.T) {
	const old = `{"service":"ratings","namespace":"default","stable":"v1","candidate":"v2","plan":"613ca61eb42d038b",
"steps":[10,100],"phase":"Paused","reason":"paused by alice",
"waves":[{"wave":1,"step":0,"weight":10,"since":"2026-11-23T09:10:00Z"}],
"history":[{"seq":1,"at":"2026-11-23T09:00:00Z","kind":"started","phase":"Progressing","weight":0,"message":"promotion of v2 started"},
{"seq":2,"at":"2026-11-23T09:10:00Z","kind":"stepped","phase":"Progressing","wave":1,"weight":10,"message":"wave 1: v2 at 10%"},
{"seq":3,"at":"2026-11-23T09:11:00Z","kind":"decided","phase":"Paused","weight":0,"message":"paused by alice","decision":"pause","by":"alice","via":"cli"}],
"seq":3,"started":"2026-11-23T09:00:00Z"}`
	load := func(src string) *schema.Intents {
		in, err := schema.Load(schema.Files{"r.cue": []byte(`package intents
services: ratings: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: ` + src + `
}
`)})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	var st State
	if err := json.Unmarshal([]byte(old), &st); err != nil {
		t.Fatal(err)
	}
	same := load(`{stable: "v1", candidate: "v2", steps: [10, 100]}`)
	if _, e := Follow(&st, "ratings", same.Services["ratings"], []int{1}, notify.Commit{}, t0); e != nil {
		t.Errorf("the same plan after an upgrade: %+v, want no change", e)
	}
	slower := load(`{stable: "v1", candidate: "v2", steps: [10, 100], every: "1h"}`)
	next, e := Follow(&st, "ratings", slower.Services["ratings"], []int{1}, notify.Commit{}, t0)
	if e == nil || e.Kind != KindAmended || next != &st || next.Phase != Paused || next.Waves[0].Weight != 10 || e.Seq != 4 {
		t.Errorf("a changed plan after an upgrade: %+v, %s at %v; want amended, Paused at 10", e, next.Phase, weights(next))
	}
}

// TestPromotionSaysSinceWhenItWaits: the promotion as events carry it says
// when the approval it waits for was asked for, from the history, so that
// a daemon that loads it after a restart knows too; once decided, nothing.
func TestPromotionSaysSinceWhenItWaits(t *testing.T) {
	svc := service(schema.Canary{Steps: []int{10, 50, 100}, Approval: &schema.Approval{AtWeights: []int{50}}})
	s := NewState("reviews", svc, []int{1}, t0)
	s.Advance(svc.Canary, t0, open)
	s.Advance(svc.Canary, t0.Add(10*time.Minute), open) // the first step, an interval after the start
	if got := s.Promotion().WaitingSince; !got.IsZero() {
		t.Errorf("progressing: waiting since %s, want zero", got)
	}
	asked := t0.Add(20 * time.Minute)
	s.Advance(svc.Canary, asked, open)
	s.Advance(svc.Canary, asked.Add(time.Minute), open)
	if s.Phase != WaitingForApproval {
		t.Fatalf("phase %s, want WaitingForApproval", s.Phase)
	}
	if got := s.Promotion().WaitingSince; !got.Equal(asked) {
		t.Errorf("waiting since %s, want %s, when it was asked for", got, asked)
	}
	if _, err := take(s, notify.DecisionApprove, 50, "alice", asked.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := s.Promotion().WaitingSince; !got.IsZero() {
		t.Errorf("approved: waiting since %s, want zero", got)
	}
}
