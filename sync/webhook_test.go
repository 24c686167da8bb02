package sync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const hookSecret = "hook-secret-7c1e"

func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// delivery is one webhook request as a provider would send it.
type delivery struct {
	header map[string]string
	body   string
}

func pushBody(ref string) string { return fmt.Sprintf(`{"ref":%q,"after":"0123456"}`, ref) }

// signed returns a correctly signed push delivery for provider.
func signed(p WebhookProvider, secret, id, body string) delivery {
	switch p {
	case GitHub:
		return delivery{map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": id, "X-Hub-Signature-256": "sha256=" + hmacHex(secret, body)}, body}
	case GitLab:
		return delivery{map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": id, "X-Gitlab-Token": secret}, body}
	case Gitea:
		return delivery{map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": id, "X-Gitea-Signature": hmacHex(secret, body)}, body}
	}
	return signedGeneric(secret, time.Now(), body)
}

func signedGeneric(secret string, at time.Time, body string) delivery {
	ts := strconv.FormatInt(at.Unix(), 10)
	return delivery{map[string]string{"X-Sailplan-Timestamp": ts, "X-Sailplan-Signature": "sha256=" + hmacHex(secret, ts+"."+body)}, body}
}

func (d delivery) send(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// hookServer serves a Webhook over real HTTP and counts its triggers.
func hookServer(t *testing.T, p WebhookProvider, log io.Writer) (string, *atomic.Int64) {
	t.Helper()
	var triggers atomic.Int64
	h, err := NewWebhook(WebhookConfig{
		Provider: p, Secret: []byte(hookSecret), Ref: "refs/heads/main",
		Trigger: func() { triggers.Add(1) },
		Log:     slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxBody: 4096,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, &triggers
}

// TestWebhookProviders sends every provider's deliveries, well and badly
// signed, replayed, for other branches, and checks the answer, whether a
// sync was triggered, and that neither the secret nor a signature reached
// the log.
func TestWebhookProviders(t *testing.T) {
	for _, p := range []WebhookProvider{GitHub, GitLab, Gitea, Generic} {
		t.Run(string(p), func(t *testing.T) {
			var log logBuffer
			url, triggers := hookServer(t, p, &log)
			good := signed(p, hookSecret, "d-1", pushBody("refs/heads/main"))
			forged := signed(p, "not-the-secret", "d-2", pushBody("refs/heads/main"))
			unsigned := signed(p, hookSecret, "d-3", pushBody("refs/heads/main"))
			for k := range unsigned.header {
				if strings.Contains(k, "Signature") || strings.HasSuffix(k, "Token") {
					delete(unsigned.header, k)
				}
			}
			tampered := signed(p, hookSecret, "d-4", pushBody("refs/heads/main"))
			tampered.body = pushBody("refs/heads/mainx")
			if p == GitLab {
				tampered.header["X-Gitlab-Token"] = hookSecret + "x" // GitLab signs nothing; a wrong token instead
			}
			other := signed(p, hookSecret, "d-5", pushBody("refs/heads/feature"))

			type result struct {
				Status   int
				Triggers int64
			}
			var got, want []result
			step := func(d delivery, status int, triggered int64) {
				code, _ := d.send(t, url)
				got = append(got, result{code, triggers.Load()})
				want = append(want, result{status, triggered})
			}
			step(good, http.StatusAccepted, 1)
			step(good, http.StatusUnauthorized, 1) // replayed: same delivery ID, or same generic signature
			step(forged, http.StatusUnauthorized, 1)
			step(unsigned, http.StatusUnauthorized, 1)
			step(tampered, http.StatusUnauthorized, 1)
			step(other, http.StatusOK, 1) // acknowledged, ignored
			if p == Generic {
				// A correctly signed delivery whose signed timestamp is too old or ahead.
				step(signedGeneric(hookSecret, time.Now().Add(-6*time.Minute), pushBody("refs/heads/main")), http.StatusUnauthorized, 1)
				step(signedGeneric(hookSecret, time.Now().Add(6*time.Minute), pushBody("refs/heads/main")), http.StatusUnauthorized, 1)
				// Without a JSON ref, any authenticated delivery triggers.
				step(signedGeneric(hookSecret, time.Now(), ""), http.StatusAccepted, 2)
			} else {
				// Another delivery of the same secret is fine.
				step(signed(p, hookSecret, "d-6", pushBody("refs/heads/main")), http.StatusAccepted, 2)
				noID := signed(p, hookSecret, "", pushBody("refs/heads/main"))
				step(noID, http.StatusBadRequest, 2)
			}
			big := signed(p, hookSecret, "d-7", pushBody("refs/heads/main")+strings.Repeat(" ", 5000))
			step(big, http.StatusRequestEntityTooLarge, 2)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("responses (-want +got):\n%s", diff)
			}
			for _, secret := range []string{hookSecret, hmacHex(hookSecret, good.body), hmacHex("not-the-secret", forged.body)} {
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
	url, triggers := hookServer(t, GitHub, io.Discard)
	ping := signed(GitHub, hookSecret, "p-1", `{"zen":"hello"}`)
	ping.header["X-GitHub-Event"] = "ping"
	if code, body := ping.send(t, url); code != http.StatusOK || body != "ignored: not a push" || triggers.Load() != 0 {
		t.Errorf("ping: %d %q, %d triggers; want 200, no trigger", code, body, triggers.Load())
	}
	bad := signed(GitHub, hookSecret, "p-2", `not json`)
	if code, _ := bad.send(t, url); code != http.StatusBadRequest || triggers.Load() != 0 {
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
}

func TestNewWebhookRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  WebhookConfig
		want string
	}{
		{WebhookConfig{Provider: "bitbucket", Secret: []byte("s"), Trigger: func() {}}, `webhook provider "bitbucket": want github, gitlab, gitea or generic`},
		{WebhookConfig{Provider: GitHub, Trigger: func() {}}, "webhook github: the secret is empty"},
		{WebhookConfig{Provider: GitHub, Secret: []byte("s")}, "webhook github: no trigger"},
	} {
		if _, err := NewWebhook(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("NewWebhook(%s) = %v, want %q", tc.cfg.Provider, err, tc.want)
		}
	}
}

// TestWebhookForgetsOldDeliveries shows the replay memory is bounded by
// its window: an ID is refused within it and forgotten after it.
func TestWebhookForgetsOldDeliveries(t *testing.T) {
	h, err := NewWebhook(WebhookConfig{Provider: GitHub, Secret: []byte(hookSecret), Trigger: func() {}, ReplayWindow: time.Hour})
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
