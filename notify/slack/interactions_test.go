package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/promote"
)

// TestInteractionRefusedBeforeParsing: requests without a valid signature,
// too large or not an approval never reach the decision path.
func TestInteractionRefusedBeforeParsing(t *testing.T) {
	decided := 0
	h := &Interactions{SigningSecret: secret, Decide: func(context.Context, string, func(*promote.State, time.Time) (*promote.Event, error)) (*promote.State, error) {
		decided++
		return nil, nil
	}}
	now := time.Now()
	approve := func(ts time.Time, key string) (http.Header, string) {
		return click(t, key, ts, "UALICE", actionApprove, `{"s":"orders","c":"v2","w":50}`)
	}
	type req struct {
		name   string
		header http.Header
		body   string
		want   int
	}
	var reqs []req
	hd, body := approve(now, secret)
	noSig := hd.Clone()
	noSig.Del("X-Slack-Signature")
	reqs = append(reqs, req{"no signature", noSig, body, 401})
	tampered := strings.Replace(body, "UALICE", "UMALLO", 1)
	if tampered == body {
		t.Fatal("the tampering changed nothing")
	}
	reqs = append(reqs, req{"body changed after signing", hd, tampered, 401})
	hd, body = approve(now.Add(6*time.Minute), secret)
	reqs = append(reqs, req{"timestamp from the future", hd, body, 401})
	big := "payload=" + strings.Repeat("a", maxInteractionBody)
	reqs = append(reqs, req{"too large", sign(t, secret, now, big), big, 413})
	junk := "payload=%7Bnot+json"
	reqs = append(reqs, req{"signed junk", sign(t, secret, now, junk), junk, 400})
	other := url.Values{"payload": {`{"type":"view_submission","user":{"id":"UALICE"}}`}}.Encode()
	reqs = append(reqs, req{"not a button", sign(t, secret, now, other), other, 200})
	for _, r := range reqs {
		w := httptest.NewRecorder()
		hr := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(r.body))
		hr.Header = r.header
		h.ServeHTTP(w, hr)
		if w.Code != r.want {
			t.Errorf("%s: HTTP %d, want %d", r.name, w.Code, r.want)
		}
	}
	if decided != 0 {
		t.Errorf("the decision path was called %d times, want 0", decided)
	}
}

// FuzzParseInteraction: whatever a (verified) body holds, parsing neither
// panics nor yields an approval that names no promotion.
func FuzzParseInteraction(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := parseInteraction(body)
		if err != nil {
			return
		}
		d, ok, err := approvalClick(cb)
		if !ok || err != nil {
			return
		}
		v := d.value
		if v.Service == "" || v.Candidate == "" || v.Weight < 1 || v.Weight > 100 {
			t.Errorf("accepted an approval of nothing: %+v", v)
		}
		back, err := decodeButtonValue(v.encode())
		if err != nil || back != v {
			t.Errorf("button value %+v does not survive a round trip: %+v, %v", v, back, err)
		}
	})
}

// TestLogNotifier: without a token, each message is one log line saying
// what would have been sent, and where.
func TestLogNotifier(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Channel: "#sailplan"}
	svc := canary(t, "v2", `{"atWeights": [10], "slack": {"channel": "#deploys"}}`)
	st := promote.NewState("reviews", svc, []int{1}, t0)
	e := st.Advance(svc.Canary, t0, promote.Gate{Open: true})
	l.Notify(t.Context(), st, *e)
	type line struct{ Kind, Channel, As, Text string }
	var got []line
	for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got = append(got, l)
	}
	want := []line{
		{Kind: "promotion", Channel: "#deploys", As: "root post or update", Text: "reviews: approval needed for v2 at 10%"},
		{Kind: "promotion-event", Channel: "#deploys", As: "thread reply", Text: "reviews WaitingForApproval: step to 10% needs an approval"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}
