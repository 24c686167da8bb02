package page

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv/golden"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(s int) notify.At { return notify.At{Time: t0.Add(time.Duration(s) * time.Second)} }

var (
	good = notify.Commit{Hash: strings.Repeat("a", 40), Author: "alice", Message: "reviews: canary v2"}
	bad  = notify.Commit{Hash: strings.Repeat("b", 40), Author: "bob", Message: "reviews: 40/50\n\nsplit"}
)

// rig is a model and a page on a bus, as the daemon wires them, with the
// page served.
type rig struct {
	bus  *notify.Bus
	page *Page
	srv  *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	bus, model := notify.NewBus(), notify.NewModel()
	p := &Page{Model: model, Heartbeat: 200 * time.Millisecond}
	bus.Subscribe(model)
	bus.Subscribe(p)
	mux := http.NewServeMux()
	p.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &rig{bus: bus, page: p, srv: srv}
}

func promotion(phase, reason string, w1, w2 int) notify.Promotion {
	return notify.Promotion{
		Service: "reviews", Namespace: "shop", Stable: "v1", Candidate: "v2", Phase: phase, Reason: reason,
		Steps: []int{20, 50, 100}, ApprovalAt: []int{50},
		Waves:   []notify.WaveWeight{{Wave: 1, Step: 0, Weight: w1, Since: t0.Add(20 * time.Second)}, {Wave: 2, Step: 0, Weight: w2, Since: t0.Add(30 * time.Second)}},
		Started: t0.Add(10 * time.Second),
	}
}

// story publishes a fleet of three clusters in two waves running a
// canary of reviews at 20 % that waits for an approval, a rejected
// commit, and a drift put back.
func (r *rig) story() {
	min := 99.0
	in := &schema.Intents{
		Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}, "c2": {Wave: 2}, "c3": {Wave: 2}}},
		Services: map[string]*schema.Service{
			"reviews": {Namespace: "shop", Routes: []schema.Route{{}}, Canary: &schema.Canary{}},
			"ratings": {Namespace: "shop", Routes: []schema.Route{
				{Match: []schema.Match{{}}, To: map[string]int{"v2": 100}},
				{To: map[string]int{"v1": 90, "v2": 10}},
			}},
		},
	}
	for _, e := range []notify.Event{
		notify.CommitSeen{At: at(0), Source: "git http://git/intents main", Commit: good},
		notify.CommitApplying{At: at(1), Commit: good, Intents: in, Warnings: []string{
			"ratings.cue:4:10: services.ratings.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates (IST0128)",
		}},
		notify.ClusterSynced{At: at(2), Cluster: "c1", Wave: 1, Commit: good.Hash, Counts: notify.Counts{Created: 3}},
		notify.ClusterSynced{At: at(3), Cluster: "c2", Wave: 2, Commit: good.Hash, Counts: notify.Counts{Created: 3}},
		notify.ClusterUnreachable{At: at(3), Cluster: "c3", Wave: 2, Commit: good.Hash, Err: "dial tcp 10.0.0.3:6443: connection refused"},
		notify.PromotionStarted{Change: notify.Change{At: at(10), Promotion: promotion("Progressing", "", 0, 0)}},
		notify.PromotionStepped{Change: notify.Change{At: at(20), Promotion: promotion("Progressing", "", 20, 0)}, Wave: 1, Weight: 20},
		notify.PromotionStepped{Change: notify.Change{At: at(30), Promotion: promotion("Progressing", "", 20, 20)}, Wave: 2, Weight: 20},
		notify.AnalysisResult{At: at(40), Service: "reviews", Candidate: "v2", Verdict: notify.Pass, Summary: "success rate 99.9 % over 612 requests",
			Checks: []notify.Check{{Name: "success rate", Value: 99.9, Measured: true, Min: &min, Unit: "%", Passed: true}}},
		notify.ApprovalWaiting{Change: notify.Change{At: at(41), Promotion: promotion("WaitingForApproval", "step to 50% needs an approval", 20, 20)}, Wave: 1, Weight: 50},
		notify.DriftCorrected{At: at(50), Cluster: "c2", Object: "VirtualService/shop/reviews", Drift: "changed"},
		notify.CommitSeen{At: at(60), Commit: bad},
		notify.CommitRejected{At: at(61), Commit: bad, Reason: notify.RejectedInvalid, Errors: []string{
			"reviews.cue:8:15: services.reviews.routes.1.to: weights add up to 90, want 100: make them add up to 100",
		}},
	} {
		r.bus.Publish(e)
	}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestPageShowsTheFleet: the page, read-only, shows the grid of clusters
// by wave with what each serves, the rejected commit with its error at
// its file:line, the promotion waiting for approval in words with its
// timeline and measurements, and offers no decisions.
func TestPageShowsTheFleet(t *testing.T) {
	r := newRig(t)
	r.story()
	code, h, body := get(t, r.srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	golden.File(t, filepath.Join("testdata", "page.html"), []byte(body))
	for _, want := range []string{
		`<td>v1 80 · v2 20</td>`, // reviews in c1 (wave 1)
		`<td>v1 90 · v2 10</td>`, // ratings' default route
		`<span class="state">unreachable</span>`,
		`<code>reviews.cue:8:15: services.reviews.routes.1.to: weights add up to 90, want 100: make them add up to 100</code>`,
		`<p class="hold">waiting for approval of the step to 50% by an approver</p>`,
		`drift: VirtualService/shop/reviews changed, put back at 10:00:50`,
		`<ul class="warnings" aria-label="warnings"><li><code>ratings.cue:4:10: services.ratings.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates (IST0128)</code></li></ul>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, `class="decide`) || strings.Contains(body, `id="token"`) {
		t.Error("a page without a store offers decisions")
	}
	if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") || !strings.Contains(got, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q: want no framing and no foreign scripts", got)
	}
	if code, h, _ := get(t, r.srv.URL+"/ui/static/page.js"); code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
		t.Errorf("GET /ui/static/page.js: %d %s", code, h.Get("Content-Type"))
	}
}

// stream reads server-sent events.
type stream struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, url string) *stream {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	return &stream{t: t, resp: resp, sc: sc}
}

// next returns the next event's name and data ("" and the comment for a
// comment), skipping the retry field.
func (s *stream) next() (string, string) {
	s.t.Helper()
	var name, data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if name != "" || data != "" {
				return name, data
			}
		case strings.HasPrefix(line, ":"):
			return "", strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
	s.t.Fatalf("stream ended: %v", s.sc.Err())
	return "", ""
}

func (s *stream) frame() frame {
	s.t.Helper()
	for {
		name, data := s.next()
		if name == "frame" {
			var f frame
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				s.t.Fatal(err)
			}
			return f
		}
	}
}

// TestStreamFollowsTheFleet: the stream sends the page at once, then the
// sections again when a promotion steps, with a sentence about it; a
// change that shows nothing new sends nothing; a quiet stream says it is
// alive; a client gone is forgotten.
func TestStreamFollowsTheFleet(t *testing.T) {
	r := newRig(t)
	r.story()
	s := openStream(t, r.srv.URL+"/ui/events")
	first := s.frame()
	if !strings.Contains(first.Promotions, "waiting for approval of the step to 50%") {
		t.Fatalf("first frame's promotions:\n%s", first.Promotions)
	}
	if first.Summary != "Commit bbbbbbb rejected: invalid." {
		t.Errorf("first frame's summary %q", first.Summary)
	}

	// A sync that changes nothing: no frame, only heartbeats.
	r.bus.Publish(notify.ClusterSynced{At: at(70), Cluster: "c1", Wave: 1, Commit: good.Hash, Counts: notify.Counts{Unchanged: 3}})
	if name, data := s.next(); name != "" || data != "alive" {
		t.Errorf("after a sync that changed nothing: event %q %q, want the heartbeat", name, data)
	}

	p := promotion("Progressing", "", 50, 20)
	p.Decisions = []notify.Decision{{Weight: 50, Approved: true, By: "carol", Via: "page", At: t0.Add(80 * time.Second)}}
	r.bus.Publish(notify.PromotionDecided{Change: notify.Change{At: at(80), Promotion: p}, Decision: notify.DecisionApprove, Weight: 50, By: "carol", Via: "page", Message: "step to 50% approved by carol"})
	r.bus.Publish(notify.PromotionStepped{Change: notify.Change{At: at(81), Promotion: p}, Wave: 1, Weight: 50})
	f := s.frame()
	for _, want := range []string{
		`<time datetime="2026-12-01T10:01:20Z">10:01:20</time> step to 50% approved by carol via page`,
		`<span class="step">20% <time datetime="2026-12-01T10:00:20Z">10:00:20</time></span> → <span class="step">50% <time datetime="2026-12-01T10:01:21Z">10:01:21</time></span>`,
	} {
		if !strings.Contains(f.Promotions, want) {
			t.Errorf("promotions after the step lack %s:\n%s", want, f.Promotions)
		}
	}
	if !strings.Contains(f.Fleet, "<td>v1 50 · v2 50</td>") {
		t.Errorf("fleet after the step does not serve 50 in wave 1:\n%s", f.Fleet)
	}
	if f.Summary != "reviews: wave 1 now at 50%." {
		t.Errorf("summary %q", f.Summary)
	}

	s.resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.bus.Publish(notify.ClusterSynced{At: at(90), Cluster: "c1", Wave: 1, Commit: good.Hash})
		r.page.mu.Lock()
		n := len(r.page.subs)
		r.page.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream is still subscribed (%d)", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
