package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/internal/fixture"
	"github.com/sailplan/sailplan/testenv"
)

// hookServer serves a Handler over real HTTP and counts its triggers.
func hookServer(t *testing.T, p Provider, log io.Writer) (string, *atomic.Int64, *published) {
	t.Helper()
	var triggers atomic.Int64
	events := &published{}
	h, err := New(Config{
		Provider: p, Secret: []byte(fixture.HookSecret), Ref: "refs/heads/main",
		Trigger: func() { triggers.Add(1) },
		Log:     slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxBody: 4096,
		Events:  events,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, &triggers, events
}

// published keeps the deliveries the handler publishes, as "provider result".
type published struct {
	mu    sync.Mutex
	lines []string
}

func (p *published) Publish(e notify.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := e.(notify.WebhookReceived)
	if w.Time.IsZero() {
		p.lines = append(p.lines, "at no time")
	}
	p.lines = append(p.lines, w.Provider+" "+w.Result)
}

// take returns what was published since the last take.
func (p *published) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.lines
	p.lines = nil
	return out
}

// TestProviders sends every provider's deliveries, well and badly
// signed, replayed, for other branches, and checks the answer, whether a
// sync was triggered, what was published of it, and that neither the
// secret nor a signature reached the log.
func TestProviders(t *testing.T) {
	for _, p := range []Provider{GitHub, GitLab, Gitea, Generic} {
		t.Run(string(p), func(t *testing.T) {
			var log testenv.LogBuffer
			url, triggers, events := hookServer(t, p, &log)
			good := fixture.Signed(p, fixture.HookSecret, "d-1", fixture.PushBody("refs/heads/main"))
			forged := fixture.Signed(p, "not-the-secret", "d-2", fixture.PushBody("refs/heads/main"))
			unsigned := fixture.Signed(p, fixture.HookSecret, "d-3", fixture.PushBody("refs/heads/main"))
			for k := range unsigned.Header {
				if strings.Contains(k, "Signature") || strings.HasSuffix(k, "Token") {
					delete(unsigned.Header, k)
				}
			}
			tampered := fixture.Signed(p, fixture.HookSecret, "d-4", fixture.PushBody("refs/heads/main"))
			tampered.Body = fixture.PushBody("refs/heads/mainx")
			if p == GitLab {
				tampered.Header["X-Gitlab-Token"] = fixture.HookSecret + "x" // GitLab signs nothing; a wrong token instead
			}
			other := fixture.Signed(p, fixture.HookSecret, "d-5", fixture.PushBody("refs/heads/feature"))

			type result struct {
				Status    int
				Triggers  int64
				Published []string
			}
			var got, want []result
			step := func(d fixture.Delivery, status int, triggered int64, published string) {
				code, _ := d.Send(t, url)
				got = append(got, result{code, triggers.Load(), events.take()})
				want = append(want, result{status, triggered, []string{string(p) + " " + published}})
			}
			step(good, http.StatusAccepted, 1, notify.WebhookAccepted)
			step(good, http.StatusUnauthorized, 1, notify.WebhookReplay) // replayed: same delivery ID, or same generic signature
			step(forged, http.StatusUnauthorized, 1, notify.WebhookUnauthorized)
			step(unsigned, http.StatusUnauthorized, 1, notify.WebhookUnauthorized)
			step(tampered, http.StatusUnauthorized, 1, notify.WebhookUnauthorized)
			step(other, http.StatusOK, 1, notify.WebhookIgnored) // acknowledged, ignored
			if p == Generic {
				// A correctly signed delivery whose signed timestamp is too old or ahead.
				step(fixture.SignedGeneric(fixture.HookSecret, time.Now().Add(-6*time.Minute), fixture.PushBody("refs/heads/main")), http.StatusUnauthorized, 1, notify.WebhookUnauthorized)
				step(fixture.SignedGeneric(fixture.HookSecret, time.Now().Add(6*time.Minute), fixture.PushBody("refs/heads/main")), http.StatusUnauthorized, 1, notify.WebhookUnauthorized)
				// Without a JSON ref, any authenticated delivery triggers.
				step(fixture.SignedGeneric(fixture.HookSecret, time.Now(), ""), http.StatusAccepted, 2, notify.WebhookAccepted)
			} else {
				// Another delivery of the same secret is fine.
				step(fixture.Signed(p, fixture.HookSecret, "d-6", fixture.PushBody("refs/heads/main")), http.StatusAccepted, 2, notify.WebhookAccepted)
				noID := fixture.Signed(p, fixture.HookSecret, "", fixture.PushBody("refs/heads/main"))
				step(noID, http.StatusBadRequest, 2, notify.WebhookBadRequest)
			}
			big := fixture.Signed(p, fixture.HookSecret, "d-7", fixture.PushBody("refs/heads/main")+strings.Repeat(" ", 5000))
			step(big, http.StatusRequestEntityTooLarge, 2, notify.WebhookTooLarge)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("responses (-want +got):\n%s", diff)
			}
			secrets := []string{fixture.HookSecret, fixture.HMACHex(fixture.HookSecret, good.Body), fixture.HMACHex("not-the-secret", forged.Body)}
			if sig, ok := strings.CutPrefix(good.Header["X-Sailplan-Signature"], "sha256="); ok {
				secrets = append(secrets, sig) // the generic provider's replay key
			}
			for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
				if !strings.Contains(line, " delivery=") {
					t.Errorf("a log line without the delivery: %s", line)
				}
			}
			for _, secret := range secrets {
				if strings.Contains(log.String(), secret) {
					t.Errorf("log shows a secret or signature %q:\n%s", secret, log.String())
				}
			}
			if !strings.Contains(log.String(), "replay") {
				t.Errorf("log does not say a replay was refused:\n%s", log.String())
			}
		})
	}
}

func TestWebhookEvents(t *testing.T) {
	url, triggers, events := hookServer(t, GitHub, io.Discard)
	ping := fixture.Signed(GitHub, fixture.HookSecret, "p-1", `{"zen":"hello"}`)
	ping.Header["X-GitHub-Event"] = "ping"
	if code, body := ping.Send(t, url); code != http.StatusOK || body != "ignored: not a push" || triggers.Load() != 0 {
		t.Errorf("ping: %d %q, %d triggers; want 200, no trigger", code, body, triggers.Load())
	}
	bad := fixture.Signed(GitHub, fixture.HookSecret, "p-2", `not json`)
	if code, _ := bad.Send(t, url); code != http.StatusBadRequest || triggers.Load() != 0 {
		t.Errorf("bad payload: %d, %d triggers; want 400, no trigger", code, triggers.Load())
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	want := []string{"github " + notify.WebhookIgnored, "github " + notify.WebhookBadRequest, "github " + notify.WebhookBadRequest}
	if diff := cmp.Diff(want, events.take()); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Provider: "bitbucket", Secret: []byte("s"), Trigger: func() {}}, `webhook provider "bitbucket": want github, gitlab, gitea or generic`},
		{Config{Provider: GitHub, Trigger: func() {}}, "webhook github: the secret is empty"},
		{Config{Provider: GitHub, Secret: []byte("s")}, "webhook github: no trigger"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%s) = %v, want %q", tc.cfg.Provider, err, tc.want)
		}
	}
}

// TestWebhookForgetsOldDeliveries shows the replay memory is bounded by
// its window: an ID is refused within it and forgotten after it.
func TestWebhookForgetsOldDeliveries(t *testing.T) {
	h, err := New(Config{Provider: GitHub, Secret: []byte(fixture.HookSecret), Trigger: func() {}, ReplayWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h.now = func() time.Time { return now }
	if err := h.remember("a"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Minute)
	if err := h.remember("a"); err == nil {
		t.Error("a delivery ID was accepted twice within the window")
	}
	now = now.Add(2 * time.Minute)
	if err := h.remember("b"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b"}, keys(h.seen)); diff != "" {
		t.Errorf("remembered IDs (-want +got):\n%s", diff)
	}
	if err := h.remember("a"); err != nil {
		t.Errorf("a delivery ID was refused after the window: %v", err)
	}
}

func keys(m map[string]time.Time) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// untouchable is a request body that must not be read.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.ErrUnexpectedEOF
}

// TestWebhookBodyAnnouncedTooLarge: a body whose Content-Length is over
// the limit is refused unread, and the connection closed.
func TestWebhookBodyAnnouncedTooLarge(t *testing.T) {
	h, err := New(Config{Provider: GitHub, Secret: []byte(fixture.HookSecret), Trigger: func() {}, MaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/webhook", io.NopCloser(untouchable{t}))
	r.ContentLength = 4097
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || w.Header().Get("Connection") != "close" {
		t.Errorf("HTTP %d, Connection %q; want 413, close", w.Code, w.Header().Get("Connection"))
	}
}
