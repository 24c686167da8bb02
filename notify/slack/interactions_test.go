package slack

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	slackapi "github.com/slack-go/slack"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
)

// TestInteractionRefusedBeforeParsing: requests without a valid signature,
// too large or not an approval never reach the decision path; each is
// published with why.
func TestInteractionRefusedBeforeParsing(t *testing.T) {
	// Every call to the home cluster is recorded: none may be made.
	home := fake.NewClientset()
	published := &outcomes{}
	h := &Interactions{SigningSecret: secret, Store: promote.NewStore(home, "sailplan-system"), Events: published}
	now := time.Now()
	approve := func(ts time.Time, key string) (http.Header, string) {
		return click(t, key, ts, "UALICE", actionApprove, `{"s":"orders","c":"v2","w":50}`)
	}
	type req struct {
		name    string
		header  http.Header
		body    string
		want    int
		outcome Outcome
	}
	var reqs []req
	hd, body := approve(now, secret)
	noSig := hd.Clone()
	noSig.Del("X-Slack-Signature")
	reqs = append(reqs, req{"no signature", noSig, body, 401, Unauthorized})
	tampered := strings.Replace(body, "UALICE", "UMALLO", 1)
	if tampered == body {
		t.Fatal("the tampering changed nothing")
	}
	reqs = append(reqs, req{"body changed after signing", hd, tampered, 401, Unauthorized})
	hd, body = approve(now.Add(6*time.Minute), secret)
	reqs = append(reqs, req{"timestamp from the future", hd, body, 401, Unauthorized})
	big := "payload=" + strings.Repeat("a", maxInteractionBody)
	reqs = append(reqs, req{"too large", sign(t, secret, now, big), big, 413, TooLarge})
	junk := "payload=%7Bnot+json"
	reqs = append(reqs, req{"signed junk", sign(t, secret, now, junk), junk, 400, BadRequest})
	other := url.Values{"payload": {`{"type":"view_submission","user":{"id":"UALICE"}}`}}.Encode()
	reqs = append(reqs, req{"not a button", sign(t, secret, now, other), other, 200, Ignored})
	for _, r := range reqs {
		w := httptest.NewRecorder()
		hr := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(r.body))
		hr.Header = r.header
		h.ServeHTTP(w, hr)
		if w.Code != r.want {
			t.Errorf("%s: HTTP %d, want %d", r.name, w.Code, r.want)
		}
		if got := published.take(); len(got) != 1 || got[0] != string(r.outcome) {
			t.Errorf("%s: published %q, want %s", r.name, got, r.outcome)
		}
	}
	if a := home.Actions(); len(a) != 0 {
		t.Errorf("the decision path reached the home cluster: %v", a)
	}
}

// untouchable is a request body that must not be read.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.ErrUnexpectedEOF
}

// TestInteractionBodyLimits: a body announced over the limit is refused
// unread (413, connection closed); one that cannot be read, such as one
// cut at the server's read timeout, is a bad request, not a large one.
func TestInteractionBodyLimits(t *testing.T) {
	published := &outcomes{}
	h := &Interactions{SigningSecret: secret, Store: promote.NewStore(fake.NewClientset(), "sailplan-system"), Events: published}
	r := httptest.NewRequest(http.MethodPost, "/slack/interactions", io.NopCloser(untouchable{t}))
	r.ContentLength = maxInteractionBody + 1
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge || w.Header().Get("Connection") != "close" {
		t.Errorf("announced too large: HTTP %d, Connection %q; want 413, close", w.Code, w.Header().Get("Connection"))
	}
	r = httptest.NewRequest(http.MethodPost, "/slack/interactions", io.MultiReader(strings.NewReader("payload="), iotest.TimeoutReader(strings.NewReader("x"))))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Errorf("unreadable: HTTP %d, want 400", w.Code)
	}
	if diff := cmp.Diff([]string{notify.InteractionTooLarge, notify.InteractionBadRequest}, published.take()); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
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

// TestApproverLookupFailsClosed: when who may decide cannot be told (the
// approvers name a user group, and Slack cannot be asked), the click
// is refused, the user told, and the promotion left as it was.
func TestApproverLookupFailsClosed(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := startNotifier(t, f, Config{Channel: "#sailplan"})
	store := promote.NewStore(fakeHome(), "sailplan-system")
	st := promote.NewState("orders", canary(t, "v2", `{"atWeights": [10], "approvers": ["SOPS"]}`), []int{1}, t0)
	st.Advance(canary(t, "v2", `{"atWeights": [10], "approvers": ["SOPS"]}`).Canary, t0, promote.Gate{Open: true})
	if st.Phase != promote.WaitingForApproval {
		t.Fatalf("phase %s, want WaitingForApproval", st.Phase)
	}
	if _, err := store.Save(t.Context(), st, ""); err != nil {
		t.Fatal(err)
	}
	published := &outcomes{}
	h := &Interactions{Store: store, Slack: n, Now: func() time.Time { return t0 }, Events: published} // no Approvers: no client to ask
	cb := slackapi.InteractionCallback{Type: slackapi.InteractionTypeBlockActions, User: slackapi.User{ID: "UALICE", Name: "alice"}, Channel: slackapi.Channel{}}
	cb.Channel.ID = "CDEPLOYS"
	cb.ActionCallback.BlockActions = []*slackapi.BlockAction{{ActionID: actionApprove, Value: `{"s":"orders","c":"v2","w":10}`}}
	if got := h.Handle(t.Context(), cb); got != Failed {
		t.Errorf("outcome %s, want %s", got, Failed)
	}
	if diff := cmp.Diff([]string{notify.InteractionFailed}, published.take()); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	drain(t, n)
	want := []call{{Method: "chat.postEphemeral", Channel: "CDEPLOYS", User: "UALICE",
		Text: "Your approval of orders could not be recorded (approvers: user group SOPS: no Slack client to look it up); nothing changed, try again."}}
	if diff := cmp.Diff(want, f.take()); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	after, err := store.Get(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if after.Phase != promote.WaitingForApproval || len(after.Decisions) != 0 {
		t.Errorf("the promotion changed: %s, decisions %+v", after.Phase, after.Decisions)
	}
}

// TestStaleReasonMentions: a refusal names Slack deciders as mentions,
// whatever their handle, and leaves everyone else as recorded.
func TestStaleReasonMentions(t *testing.T) {
	for _, c := range []struct{ by, want string }{
		{"slack:UBOB:bob", "<@UBOB>"},
		{"slack:W01AB2C:first.last", "<@W01AB2C>"},
		{"slack:UNONAME:", "<@UNONAME>"},
		{"alice", "alice"},
		{"system:serviceaccount:ci:deployer", "system:serviceaccount:ci:deployer"},
	} {
		err := fmt.Errorf("orders: the step to 50%% is already approved by %s via slack: %w", c.by, promote.ErrStale)
		want := "orders: the step to 50% is already approved by " + c.want + " via slack"
		if got := staleReason(err); got != want {
			t.Errorf("by %q:\n got %s\nwant %s", c.by, got, want)
		}
	}
}
