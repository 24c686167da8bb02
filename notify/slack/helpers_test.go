package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sailplan/sailplan/notify"
)

// call is one Web API call that the fake Slack received.
type call struct {
	Method  string
	Channel string
	TS      string // the message updated (chat.update)
	Thread  string // the thread replied in
	User    string // the user of an ephemeral message
	Text    string
	Buttons []string // action_id=value of the buttons in the blocks
}

// fakeSlack is slacktest's server with the methods sailplan calls
// answered and recorded, and failures that tests queue up in front.
type fakeSlack struct {
	srv *slacktest.Server

	mu       sync.Mutex
	calls    []call
	attempts map[string]int
	failures []failure
	groups   map[string][]string
	nextTS   int
	// blocks are the blocks each message was last posted or updated
	// with, by ts.
	blocks map[string]string
}

// failure is an HTTP answer given instead of the method's, once.
type failure struct {
	method     string
	status     int
	retryAfter string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{attempts: map[string]int{}, groups: map[string][]string{}, blocks: map[string]string{}}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		for _, m := range []string{"chat.postMessage", "chat.update", "chat.postEphemeral", "usergroups.users.list"} {
			c.Handle("/"+m, f.handler(m))
		}
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *fakeSlack) client() *slackapi.Client {
	return slackapi.New("xoxb-test", slackapi.OptionAPIURL(f.srv.GetAPIURL()))
}

func (f *fakeSlack) fail(method string, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, failure{method: method, status: status, retryAfter: retryAfter})
}

func (f *fakeSlack) handler(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := parseBody(r.Header.Get("Content-Type"), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attempts[method]++
		for i, fl := range f.failures {
			if fl.method == method {
				f.failures = append(f.failures[:i], f.failures[i+1:]...)
				if fl.retryAfter != "" {
					w.Header().Set("Retry-After", fl.retryAfter)
				}
				w.WriteHeader(fl.status)
				return
			}
		}
		resp := map[string]any{"ok": true}
		switch method {
		case "usergroups.users.list":
			resp["users"] = f.groups[form["usergroup"]]
			writeJSON(w, resp)
			return
		case "chat.postMessage":
			f.nextTS++
			resp["ts"] = fmt.Sprintf("1700000000.%06d", f.nextTS)
			resp["channel"] = "C" + strings.ToUpper(strings.TrimPrefix(form["channel"], "#"))
			f.blocks[resp["ts"].(string)] = form["blocks"]
		case "chat.update":
			resp["ts"] = form["ts"]
			resp["channel"] = form["channel"]
			f.blocks[form["ts"]] = form["blocks"]
		case "chat.postEphemeral":
			resp["message_ts"] = "1700000000.999999"
		}
		f.calls = append(f.calls, call{Method: method, Channel: form["channel"], TS: form["ts"], Thread: form["thread_ts"],
			User: form["user"], Text: form["text"], Buttons: buttons(form["blocks"])})
		writeJSON(w, resp)
	}
}

func parseBody(contentType string, body []byte) (map[string]string, error) {
	out := map[string]string{}
	if strings.HasPrefix(contentType, "application/json") {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			} else {
				b, _ := json.Marshal(v)
				out[k] = string(b)
			}
		}
		return out, nil
	}
	vals, err := parseForm(string(body))
	if err != nil {
		return nil, err
	}
	for k := range vals {
		out[k] = vals.Get(k)
	}
	return out, nil
}

func buttons(blocks string) []string {
	if blocks == "" {
		return nil
	}
	var bs []struct {
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		return []string{"unparsable blocks: " + err.Error()}
	}
	var out []string
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, e.ActionID+"="+e.Value)
			}
		}
	}
	return out
}

// notes are the texts of the context blocks of message ts as Slack last
// got it: who decided what, the analysis, when the promotion started.
func (f *fakeSlack) notes(t *testing.T, ts string) []string {
	t.Helper()
	f.mu.Lock()
	raw := f.blocks[ts]
	f.mu.Unlock()
	var bs []struct {
		Type     string `json:"type"`
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(raw), &bs); err != nil {
		t.Fatalf("blocks of %s: %v\n%s", ts, err, raw)
	}
	var out []string
	for _, b := range bs {
		if b.Type == "context" {
			for _, e := range b.Elements {
				out = append(out, e.Text)
			}
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// take returns the calls so far and forgets them.
func (f *fakeSlack) take() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeSlack) attemptsOf(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[method]
}

// recordedSleep replaces the queue's sleep: it records the waits asked
// for and returns at once, so that tests of retries take no time.
type recordedSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recordedSleep) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func (r *recordedSleep) got() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// startNotifier returns a notifier talking to f, delivering from a
// goroutine that stops with the test.
func startNotifier(t *testing.T, f *fakeSlack, c Config) (*Notifier, *recordedSleep) {
	c.Client = f.client()
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := New(c)
	rs := &recordedSleep{}
	n.q.sleep = rs.sleep
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, rs
}

// drain waits (boundedly) for the notifier's queue to empty.
func drain(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.Drain(ctx); err != nil {
		t.Fatalf("slack queue did not drain: %v", err)
	}
}

// fakeHome is a home cluster in memory whose ConfigMaps carry resource
// versions, checked on update as an API server checks them, so that
// promote's store and its preconditions work on it.
func fakeHome() *fake.Clientset {
	c := fake.NewClientset()
	version := 0 // the fake serializes its reactions
	c.PrependReactor("*", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a := a.(type) {
		case k8stesting.CreateAction:
			version++
			a.GetObject().(*corev1.ConfigMap).ResourceVersion = strconv.Itoa(version)
		case k8stesting.UpdateAction:
			cm := a.GetObject().(*corev1.ConfigMap)
			old, err := c.Tracker().Get(a.GetResource(), a.GetNamespace(), cm.Name)
			if err != nil {
				return false, nil, nil // the tracker answers NotFound
			}
			if old.(*corev1.ConfigMap).ResourceVersion != cm.ResourceVersion {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), cm.Name, errors.New("changed since it was read"))
			}
			version++
			cm.ResourceVersion = strconv.Itoa(version)
		}
		return false, nil, nil
	})
	return c
}

// sign signs body as Slack does, at timestamp ts.
func sign(t *testing.T, secret string, ts time.Time, body string) http.Header {
	t.Helper()
	h := http.Header{}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hmacHex(secret, "v0:"+stamp+":"+body))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

func parseForm(s string) (url.Values, error) { return url.ParseQuery(s) }

func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// outcomes keeps the outcomes of the interactions published, in order:
// a Publisher for an Interactions, or a consumer of a bus.
type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) Publish(e notify.Event) { o.Handle(e) }

func (o *outcomes) Handle(e notify.Event) {
	i, ok := e.(notify.InteractionReceived)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if i.Time.IsZero() {
		o.got = append(o.got, "at no time")
	}
	o.got = append(o.got, i.Result)
}

// take returns the outcomes since the last take.
func (o *outcomes) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.got
	o.got = nil
	return out
}
