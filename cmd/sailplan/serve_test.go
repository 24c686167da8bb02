package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/sailplan/sailplan/notify/slack"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/sync/webhook"
	"github.com/sailplan/sailplan/testenv"
)

const (
	hookSecret  = "hook-secret-5e2a"
	slackSecret = "slack-signing-secret-91c0"
	// promptly is how fast a request must be served while the server is
	// flooded.
	promptly = time.Second
)

// shortLimits are the public limits with timeouts short enough for a
// test; the connection limits are the real ones.
func shortLimits() *limits {
	l := publicLimits
	l.ReadHeaderTimeout = time.Second
	l.ReadTimeout = 2 * time.Second
	l.ReportEvery = 500 * time.Millisecond
	return &l
}

// serveRig is the daemon's HTTP side with its real webhook (GitHub) and
// Slack handlers, the latter deciding through a fake home cluster.
type serveRig struct {
	srv      *httpServer
	log      *testenv.LogBuffer
	triggers atomic.Int64
	home     *fake.Clientset
}

func newServeRig(t *testing.T, public, probe *limits) *serveRig {
	t.Helper()
	r := &serveRig{log: &testenv.LogBuffer{}, home: fake.NewClientset()}
	log := slog.New(slog.NewTextHandler(r.log, nil))
	hook, err := webhook.New(webhook.Config{Provider: webhook.GitHub, Secret: []byte(hookSecret), Ref: "refs/heads/main",
		Trigger: func() { r.triggers.Add(1) }, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", hook)
	mux.Handle("POST /slack/interactions", &slack.Interactions{SigningSecret: slackSecret, Store: promote.NewStore(r.home, ""), Log: log})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	ctx, cancel := context.WithCancel(context.Background())
	r.srv, err = serve(ctx, serveConfig{httpFlags: httpFlags{listen: "127.0.0.1:0", probeListen: "127.0.0.1:0"},
		Routes: mux, Probes: map[string]http.Handler{"/healthz": ok}, Log: log, Public: public, Probe: probe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.srv.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		if t.Failed() {
			t.Logf("server log:\n%s", r.log)
		}
	})
	return r
}

// clientFrom is a client on source address src, with a new connection per
// request, as webhook senders and the kubelet do.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// timed sends req and returns the status and how long the answer took.
func timed(t *testing.T, c *http.Client, req *http.Request) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return 0, time.Since(start)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, time.Since(start)
}

func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// githubPush is a push to main as GitHub signs it.
func githubPush(t *testing.T, addr, id, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/webhook", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(hookSecret, body))
	return req
}

// slackClick is a click on an approval button, signed as Slack signs it.
func slackClick(t *testing.T, addr string) *http.Request {
	t.Helper()
	cb, err := json.Marshal(map[string]any{
		"type":    "block_actions",
		"user":    map[string]string{"id": "UALICE"},
		"channel": map[string]string{"id": "CDEPLOYS"},
		"actions": []map[string]string{{"type": "button", "action_id": "sailplan_approve", "block_id": "sailplan_approval", "value": `{"s":"reviews","c":"v2","w":50}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := url.Values{"payload": {string(cb)}}.Encode()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/slack/interactions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hmacHex(slackSecret, "v0:"+ts+":"+body))
	return req
}

func getRequest(t *testing.T, addr, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// flood is slow clients: each holds a connection that sends the start of
// a request and then one byte every tick, and connects again when the
// server drops it, until the flood stops.
type flood struct {
	target string
	tick   time.Duration
	// open counts the attackers' open connections.
	open atomic.Int64

	mu sync.Mutex
	// refused: dropped within refusedWithin of connecting; held: how
	// long each other connection lasted until the server dropped it.
	refused int
	held    []time.Duration
	wg      sync.WaitGroup
}

const refusedWithin = 250 * time.Millisecond

// start sends n slow clients from src, each sending one of starts.
func (f *flood) start(ctx context.Context, src string, n int, starts ...string) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	for i := range n {
		f.wg.Go(func() {
			for ctx.Err() == nil {
				f.once(ctx, d, starts[i%len(starts)])
			}
		})
	}
}

func (f *flood) once(ctx context.Context, d *net.Dialer, start string) {
	c, err := d.DialContext(ctx, "tcp", f.target)
	if err != nil {
		time.Sleep(10 * time.Millisecond)
		return
	}
	f.open.Add(1)
	defer f.open.Add(-1)
	began := time.Now()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	go func() {
		if _, err := io.WriteString(c, start); err != nil {
			return
		}
		for range time.Tick(f.tick) {
			if _, err := c.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	// Until the server answers (at its read timeout) and closes, or
	// closes at once.
	_, _ = io.Copy(io.Discard, c)
	if ctx.Err() != nil {
		return // stopped by the test, not by the server
	}
	took := time.Since(began)
	f.mu.Lock()
	if took < refusedWithin {
		f.refused++
	} else {
		f.held = append(f.held, took)
	}
	f.mu.Unlock()
	if took < refusedWithin {
		// The attacker shares the test's two cores: connecting again
		// without a pause would measure its loop, not the server.
		time.Sleep(10 * time.Millisecond)
	}
}

// results waits for the flood to stop and returns what it saw.
func (f *flood) results() (refused int, held []time.Duration) {
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused, slices.Sorted(slices.Values(f.held))
}

// sampleMax calls fn every few milliseconds until ctx ends and returns the
// largest value it gave.
func sampleMax(ctx context.Context, fn func() int) func() int {
	var most atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if v := int64(fn()); v > most.Load() {
				most.Store(v)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() int { <-done; return int(most.Load()) }
}

// Slow requests: the headers of a webhook delivery (a wrong signature;
// its body never comes), of a Slack interaction, and headers that never
// end.
var (
	slowWebhook = "POST /webhook HTTP/1.1\r\nHost: sailplan\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n" +
		"X-GitHub-Delivery: forged\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 1048576\r\n\r\n"
	slowSlack   = "POST /slack/interactions HTTP/1.1\r\nHost: sailplan\r\nContent-Length: 1000000\r\n\r\npayload="
	slowHeaders = "GET /healthz HTTP/1.1\r\nHost: sailplan\r\nX-Slow: "
)

// TestServeFloodFromOneSource: one source (127.0.0.2) opens a hundred
// connections at once, again and again, each trickling its headers or
// body. It gets its share of the connections and no more; the rest are
// refused at once. The probe, a signed GitHub push and a signed Slack
// click from another source are answered promptly throughout; the
// tricklers are cut at the read timeout; the log says so in one line per
// period, without a secret.
func TestServeFloodFromOneSource(t *testing.T) {
	lim := shortLimits()
	r := newServeRig(t, lim, nil)
	addr := r.srv.Addr
	ctx, stop := context.WithCancel(t.Context())
	f := &flood{target: addr, tick: 100 * time.Millisecond}
	f.start(ctx, "127.0.0.2", 100, slowWebhook, slowSlack, slowHeaders)
	attacker := netip.MustParsePrefix("127.0.0.2/32")
	mostHeld := sampleMax(ctx, func() int { return r.srv.listeners[0].openFrom(attacker) })
	began := time.Now()

	time.Sleep(300 * time.Millisecond) // the flood is on
	c := clientFrom("127.0.0.1")
	var worst [3]time.Duration
	rounds := 0
	for time.Since(began) < 2*lim.ReadTimeout+500*time.Millisecond {
		rounds++
		for i, req := range []*http.Request{
			getRequest(t, addr, "/healthz"),
			githubPush(t, addr, fmt.Sprintf("delivery-%d", rounds), `{"ref":"refs/heads/main","after":"0123456"}`),
			slackClick(t, addr),
		} {
			want := []int{http.StatusOK, http.StatusAccepted, http.StatusOK}[i]
			code, took := timed(t, c, req)
			if code != want {
				t.Errorf("round %d: %s %s: HTTP %d, want %d", rounds, req.Method, req.URL.Path, code, want)
			}
			worst[i] = max(worst[i], took)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	refused, held := f.results()
	most := mostHeld()

	t.Logf("under the flood, slowest of %d rounds: /healthz %v, GitHub push %v, Slack click %v", rounds, worst[0], worst[1], worst[2])
	for i, what := range []string{"/healthz", "the GitHub push", "the Slack click"} {
		if worst[i] > promptly {
			t.Errorf("%s took %v under the flood, want under %v", what, worst[i], promptly)
		}
	}
	if got := r.triggers.Load(); got != int64(rounds) {
		t.Errorf("%d syncs triggered, want one per push (%d)", got, rounds)
	}
	// The click reached the promotion store (it finds no promotion, so
	// the decision is stale, after its signature was verified).
	if gets := len(r.home.Actions()); gets < rounds {
		t.Errorf("%d requests to the home cluster, want one per click (%d)", gets, rounds)
	}

	if refused == 0 || len(held) == 0 {
		t.Fatalf("the flood was not both refused (%d) and held (%d)", refused, len(held))
	}
	t.Logf("attacker: %d connections refused at once, %d held and cut (longest %v, read timeout %v), at most %d open at a time (limit %d)",
		refused, len(held), held[len(held)-1], lim.ReadTimeout, most, lim.MaxConnsPerSource)
	if most > lim.MaxConnsPerSource {
		t.Errorf("the attacker held %d connections at once, want at most %d", most, lim.MaxConnsPerSource)
	}
	// Past the read timeout, net/http waits half a second before closing
	// a connection whose body it left unread (rstAvoidanceDelay).
	if longest := held[len(held)-1]; longest > lim.ReadTimeout+time.Second {
		t.Errorf("a trickler held its connection %v, want it cut within the read timeout (%v)", longest, lim.ReadTimeout)
	}

	// The log: one line per period about the flood, none per connection,
	// no secret.
	time.Sleep(lim.ReportEvery + 100*time.Millisecond)
	logs := r.log.String()
	lines := 0
	for l := range strings.Lines(logs) {
		if strings.Contains(l, "127.0.0.2") {
			lines++
			if !strings.Contains(l, "http connections refused or cut") {
				t.Errorf("a log line per connection: %s", l)
			}
		}
	}
	periods := int(time.Since(began)/lim.ReportEvery) + 1
	if lines == 0 || lines > periods {
		t.Errorf("%d log lines about the flood over %d periods, want between 1 and %d", lines, periods, periods)
	}
	for _, secret := range []string{hookSecret, slackSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a secret")
		}
	}
}

// TestServeFloodFromManySources: twenty sources hold 160 slow
// connections, more than the limit of 64, with RLIMIT_NOFILE as it is.
// The server never holds more than the limit (its file descriptors say
// so); the others wait in the kernel's backlog and are served in turn;
// the probe listener answers promptly throughout; accepting never breaks.
func TestServeFloodFromManySources(t *testing.T) {
	lim := shortLimits()
	r := newServeRig(t, lim, nil)
	_, port, _ := net.SplitHostPort(r.srv.Addr)
	if _, err := serverFDs(port); err != nil {
		t.Fatalf("cannot count the server's descriptors (from /proc/net/tcp and /proc/self/fd): %v", err)
	}
	ctx, stop := context.WithCancel(t.Context())
	f := &flood{target: r.srv.Addr, tick: 200 * time.Millisecond}
	for i := range 20 {
		f.start(ctx, fmt.Sprintf("127.0.0.%d", 10+i), lim.MaxConnsPerSource, slowHeaders, slowWebhook)
	}
	mostOpen := sampleMax(ctx, r.srv.listeners[0].openConns)
	mostFDs := sampleMax(ctx, func() int { n, _ := serverFDs(port); return n })
	time.Sleep(300 * time.Millisecond)

	probes := clientFrom("127.0.0.1")
	var worstProbe time.Duration
	waited := make(chan time.Duration, 1)
	go func() {
		// On the flooded listener, a probe waits its turn.
		code, took := timed(t, clientFrom("127.0.0.1"), getRequest(t, r.srv.Addr, "/healthz"))
		if code != http.StatusOK {
			t.Errorf("/healthz on --listen under the flood: HTTP %d", code)
		}
		waited <- took
	}()
	for range 10 {
		code, took := timed(t, probes, getRequest(t, r.srv.ProbeAddr, "/healthz"))
		if code != http.StatusOK {
			t.Errorf("/healthz on --probe-listen: HTTP %d", code)
		}
		worstProbe = max(worstProbe, took)
		time.Sleep(200 * time.Millisecond)
	}
	onPublic := <-waited
	stop()
	_, held := f.results()
	open, server := mostOpen(), mostFDs()

	t.Logf("%d slow connections from 20 sources: at most %d open on the server, %d descriptors for them (limit %d); /healthz on --probe-listen within %v, on --listen after %v",
		20*lim.MaxConnsPerSource, open, server, lim.MaxConns, worstProbe, onPublic)
	// A closed connection's descriptor outlives Close (and so its slot)
	// until the goroutine reading it has woken: a few at most.
	if open > lim.MaxConns || server > lim.MaxConns+lim.MaxConns/8 {
		t.Errorf("the server held %d connections and %d descriptors for them at once, want at most %d", open, server, lim.MaxConns)
	}
	if worstProbe > promptly {
		t.Errorf("/healthz on --probe-listen took %v under the flood, want under %v", worstProbe, promptly)
	}
	// Held counts from the connect, the wait in the backlog included, so
	// only TestServeFloodFromOneSource bounds it by the read timeout.
	if len(held) == 0 {
		t.Errorf("no slow connection was served and cut")
	}

	// Accepting goes on: the flood over, the flooded listener answers at once.
	if code, took := timed(t, clientFrom("127.0.0.1"), getRequest(t, r.srv.Addr, "/healthz")); code != http.StatusOK || took > promptly {
		t.Errorf("/healthz after the flood: HTTP %d after %v", code, took)
	}
	if strings.Contains(r.log.String(), "Accept error") {
		t.Errorf("accepting failed:\n%s", r.log)
	}
}

// serverFDs counts this process's descriptors for connections accepted on
// port: sockets whose local port it is, listed in /proc/net/tcp (those
// still in the backlog have no inode yet), found among /proc/self/fd.
func serverFDs(port string) (int, error) {
	want, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, err
	}
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for line := range strings.Lines(string(table)) {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) < 10 || f[3] == "0A" || f[9] == "0" { // the header, the listener, the backlog
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && p == want {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && inodes[link] {
			n++
		}
	}
	return n, nil
}

// rawRequest writes req on a new connection from 127.0.0.1 and returns
// the answer's status line and headers, and how long until the server
// closed the connection.
func rawRequest(t *testing.T, addr, req string) (*http.Response, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	_, _ = io.Copy(io.Discard, br) // the body, then until closed
	return resp, time.Since(start)
}

// TestServeReadsNoBodyItDoesNotTake: a request that announces a body to a
// route that takes none (a probe, an unknown route, a wrong method) is
// answered at once, and its connection closed without waiting for the
// body: the read timeout (10 s here) never comes into it.
func TestServeReadsNoBodyItDoesNotTake(t *testing.T) {
	r := newServeRig(t, nil, nil)
	for _, tc := range []struct {
		addr, req string
		want      int
	}{
		{r.srv.Addr, "GET /healthz HTTP/1.1\r\nHost: s\r\nContent-Length: 100000\r\n\r\nabc", http.StatusOK},
		{r.srv.Addr, "GET /healthz HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", http.StatusOK},
		{r.srv.Addr, "POST /nowhere HTTP/1.1\r\nHost: s\r\nContent-Length: 1000\r\n\r\n", http.StatusNotFound},
		{r.srv.Addr, "PUT /webhook HTTP/1.1\r\nHost: s\r\nContent-Length: 1000\r\n\r\n", http.StatusMethodNotAllowed},
		{r.srv.ProbeAddr, "GET /healthz HTTP/1.1\r\nHost: s\r\nContent-Length: 1000\r\n\r\n", http.StatusOK},
		{r.srv.ProbeAddr, "POST /webhook HTTP/1.1\r\nHost: s\r\nContent-Length: 1000\r\n\r\n", http.StatusNotFound},
	} {
		resp, took := rawRequest(t, tc.addr, tc.req)
		first, _, _ := strings.Cut(tc.req, "\r\n")
		if resp.StatusCode != tc.want || !resp.Close || took > promptly {
			t.Errorf("%s: HTTP %d (close %v), closed after %v; want %d, closed at once", first, resp.StatusCode, resp.Close, took, tc.want)
		}
	}
}

// TestServeFitsRealDeliveries: with the real limits, the largest delivery
// the webhook takes (5 MiB) and large headers, such as a proxy's, fit.
func TestServeFitsRealDeliveries(t *testing.T) {
	r := newServeRig(t, nil, nil)
	c := clientFrom("127.0.0.1")
	prefix, suffix := `{"ref":"refs/heads/main","pad":"`, `"}`
	body := prefix + strings.Repeat("a", webhook.DefaultMaxBody-len(prefix)-len(suffix)) + suffix
	if code, took := timed(t, c, githubPush(t, r.srv.Addr, "big", body)); code != http.StatusAccepted {
		t.Errorf("a 5 MiB delivery: HTTP %d after %v, want 202", code, took)
	}
	for _, tc := range []struct {
		size int
		want int
	}{{48 << 10, http.StatusAccepted}, {128 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req := githubPush(t, r.srv.Addr, fmt.Sprintf("headers-%d", tc.size), `{"ref":"refs/heads/main"}`)
		for i := range tc.size / 1024 {
			req.Header.Set(fmt.Sprintf("X-Proxy-%d", i), strings.Repeat("h", 1000))
		}
		if code, _ := timed(t, c, req); code != tc.want {
			t.Errorf("%d KiB of headers: HTTP %d, want %d", tc.size>>10, code, tc.want)
		}
	}
}

// TestServeIdleMakesWay: a source at its limit gets a new connection when
// one of its connections is idle (a proxy's pool), and is refused when
// all of them are busy.
func TestServeIdleMakesWay(t *testing.T) {
	r := newServeRig(t, nil, nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
	dial := func() net.Conn {
		c, err := d.DialContext(t.Context(), "tcp", r.srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	exchange := func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: s\r\n\r\n"); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
	per := publicLimits.MaxConnsPerSource
	idle := make([]net.Conn, per)
	for i := range idle {
		idle[i] = dial()
		if err := exchange(idle[i]); err != nil {
			t.Fatalf("keep-alive connection %d: %v", i, err)
		}
	}
	if err := exchange(dial()); err != nil {
		t.Errorf("a new connection beside %d idle ones: %v, want served", per, err)
	}
	src := netip.MustParsePrefix("127.0.0.3/32")
	if n := r.srv.listeners[0].openFrom(src); n != per {
		t.Errorf("%d connections open from the source, want %d", n, per)
	}

	// The server marks a connection idle just after it writes the answer,
	// so the client may read it first: wait until the server sees them
	// all idle, as a real client's next request would come later anyway.
	l := r.srv.listeners[0]
	deadline := time.Now().Add(5 * time.Second)
	for idleFrom(l, src) < per && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := idleFrom(l, src); n != per {
		t.Fatalf("%d of the source's %d connections idle, want all", n, per)
	}

	// Now every connection of the source is busy sending a request.
	busy := make([]net.Conn, per)
	for i := range busy {
		busy[i] = dial()
		if _, err := io.WriteString(busy[i], slowHeaders); err != nil {
			t.Fatal(err)
		}
	}
	// Each took the place of an idle one.
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("an idle connection was not closed for a new one: %v", err)
		}
	}
	refused := dial()
	_ = refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if n, err := refused.Read(make([]byte, 1)); n != 0 || err == nil || time.Since(start) > promptly {
		t.Errorf("a connection beyond %d busy ones: read %d bytes, %v after %v; want closed at once", per, n, err, time.Since(start))
	}
}

// TestServeAddressInUse: an address in use is an error at start that names
// its flag.
func TestServeAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		flags httpFlags
		want  string
	}{
		{httpFlags{listen: taken.Addr().String()}, "--listen " + taken.Addr().String() + ": "},
		{httpFlags{listen: "127.0.0.1:0", probeListen: taken.Addr().String()}, "--probe-listen " + taken.Addr().String() + ": "},
	} {
		srv, err := serve(t.Context(), serveConfig{httpFlags: tc.flags})
		if err == nil {
			srv.Shutdown(context.Background())
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("serve(%+v) = %v, want %q...", tc.flags, err, tc.want)
		}
	}
}

// idleFrom is how many of src's connections the server holds idle.
func idleFrom(l *sourceListener, src netip.Prefix) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for tc := range l.open[src] {
		if tc.idle.Load() {
			n++
		}
	}
	return n
}
