package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/testenv"
)

// The live page in a real browser (Debian's chromium, headless) against
// the daemon as `sailplan run` wires it, two real clusters, a real Git
// server and a real Prometheus judging the canary.

// listening waits until the daemon serves and returns its address.
func (d *daemon) listening(t *testing.T) string {
	t.Helper()
	listen := regexp.MustCompile(`msg="sailplan running".* listen=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listen.FindStringSubmatch(d.log()); m != nil {
			return m[1]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("sailplan run did not start serving within 30s:\n%s", d.log())
	return ""
}

// browser starts headless chromium with a fresh profile, or fails saying
// why it could not.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("chromium: not found; install Debian's chromium package (`make deps` does)")
	}
	var out strings.Builder
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1100),
		chromedp.CombinedOutput(&out))
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(alloc, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium (%s) did not start: %v\n%s", path, err, out.String())
	}
	return ctx
}

// artifacts is where screenshots go: $SAILPLAN_ARTIFACTS, else a
// directory under $TMPDIR named after the test.
func artifacts(t *testing.T) string {
	dir := os.Getenv("SAILPLAN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sailplan-artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// approvers makes two ServiceAccounts in ns of the home cluster and
// returns their tokens: approver, bound to the approver's rights on the
// promotion states (as deploy's sailplan-approver Role grants them), and
// viewer, bound to nothing.
func approvers(t *testing.T, ns string) (approver, viewer string) {
	t.Helper()
	ctx := t.Context()
	admin, err := kubernetes.NewForConfig(env.Cluster("c1").RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "approver"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "update"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "approver"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "approver"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "approver", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(name string) string {
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		exp := int64(3600)
		tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Status.Token
	}
	return token("approver"), token("viewer")
}

// TestPageStreamOutlivesServerTimeouts: the server's read and write
// timeouts bound requests, not the page's stream, which stays open with
// its heartbeats for longer than both, still carries changes, and ends
// at once when the daemon stops.
func TestPageStreamOutlivesServerTimeouts(t *testing.T) {
	lim := shortLimits()
	lim.WriteTimeout = 2 * time.Second
	log := slog.New(slog.DiscardHandler)
	ev := newEvents(log, "", apply.Options{}, "test")
	mux := http.NewServeMux()
	mountPage(mux, ev, nil, nil, log).Heartbeat = 250 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := serve(ctx, serveConfig{httpFlags: httpFlags{listen: "127.0.0.1:0"}, Routes: mux, Log: log, Public: lim})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	until := time.After(2*lim.WriteTimeout + time.Second)
	beats := 0
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended after %d heartbeats, within the server's timeouts", beats)
			}
			if l == ": alive" {
				beats++
			}
		case <-until:
			break wait
		}
	}
	if beats < 10 {
		t.Errorf("%d heartbeats in 5s, want one every 250ms", beats)
	}
	ev.bus.Publish(notify.CommitSeen{At: notify.At{Time: time.Now()}, Commit: notify.Commit{Hash: strings.Repeat("c", 40), Message: "late news"}})
	for l := range lines {
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, "late news") {
			break
		}
	}
	cancel()
	start := time.Now()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown with a stream open: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("shutdown with a stream open took %s", took)
	}
}

// canaryCUE is reviews in ns, moving from v1 to v2 in steps of 20, 50
// and 100 %, every 3 s, gated by Prometheus, the step to 50 % by an
// approval.
func canaryCUE(ns string) string {
	return fmt.Sprintf(`package intents

services: reviews: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [20, 50, 100]
		every: "3s"
		analysis: {successRate: 99, latencyP99: "100ms", minRequests: 10}
		approval: atWeights: [50]
	}
}
`, ns)
}

// TestPageInBrowser: the page shows the canary as it steps, without
// reloads; a rejected commit appears with its error at its file:line; an
// approval is refused without a token and with a token whose identity
// lacks the RBAC, and moves the promotion with one that has it; all of it
// by keyboard alone; and the page says when it lost the daemon.
func TestPageInBrowser(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	approver, viewer := approvers(t, ns)

	mesh := testenv.NewMesh()
	mesh.Set(testenv.Workload{Service: "reviews", Namespace: ns, Version: "v2"}, testenv.Traffic{PerSecond: 50, LatencyMS: 20})
	metrics := httptest.NewServer(mesh.Handler())
	t.Cleanup(metrics.Close)
	mctx, stopMesh := context.WithCancel(context.Background())
	t.Cleanup(stopMesh)
	go mesh.Run(mctx)
	prom := testenv.StartPrometheus(t, strings.TrimPrefix(metrics.URL, "http://"))

	repo := testenv.NewGitServer(t).NewRepo(t, "intents")
	repo.Commit(t, map[string]string{
		"fleet.cue":   testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2}),
		"reviews.cue": canaryCUE(ns),
	}, "reviews: canary v2")

	d := startDaemon(t, "run", "--listen", "127.0.0.1:0", "--repo", repo.URL(), "--interval", "1s", "--home-context", "c1", "--state-namespace", ns,
		"--applyset-namespace", ns, "--prometheus-url", prom.URL, "--promote-interval", "1s", "--lease-duration", "5s")
	addr := d.listening(t)
	ctx := browser(t)
	shots := artifacts(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// text is the text of the first element matching a CSS selector, "" when none does.
	text := func(selector string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, selector)))
		if err != nil {
			t.Fatalf("reading %s: %v", selector, err)
		}
		return strings.Join(strings.Fields(s), " ")
	}
	// waitFor waits until the element's text contains want.
	waitFor := func(what, selector, want string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := text(selector)
			if strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				shot("failed")
				t.Fatalf("%s: %s says %q, want %q within 90s\n%s", what, selector, got, want, d.log())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// tabTo presses Tab until the element with id has the focus, as a
	// keyboard user reaches it.
	tabTo := func(id string) {
		t.Helper()
		for range 60 {
			focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
			if err != nil {
				t.Fatal(err)
			}
			if focused == id {
				// Keyboard focus is visible.
				style, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))
				if err != nil || style != "solid" {
					t.Errorf("focused %s has outline style %q (%v), want a visible outline", id, style, err)
				}
				return
			}
			if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
				t.Fatal(err)
			}
		}
		t.Fatalf("60 presses of Tab did not reach #%s", id)
	}
	press := func(keys string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
			t.Fatal(err)
		}
	}
	useToken := func(token string) {
		t.Helper()
		tabTo("token")
		press(token)
		press(kb.Enter)
		if v := text("#token-state"); !strings.HasPrefix(v, "Token set for this tab") {
			t.Fatalf("after entering a token: %q", v)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	waitFor("the stream", "#connection", "Live")
	// A mark on this load of the page: still there at the end, it was
	// never reloaded.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.loadMark = "first load"`)); err != nil {
		t.Fatal(err)
	}
	// The page, loaded once, follows the canary step by step.
	waitFor("wave 1 at 20 %", "#fleet tbody tr", "v1 80 · v2 20")
	waitFor("the approval", "#promotion-reviews .hold", "waiting for approval of the step to 50% by an approver")
	if got := text("#promotion-reviews .timeline"); !strings.Contains(got, "wave 1 20%") || !strings.Contains(got, "wave 2 20%") {
		t.Errorf("timeline %q: want both waves at 20%%", got)
	}
	if got := text("#promotion-reviews .analysis"); !strings.Contains(got, "pass") {
		t.Errorf("analysis %q: want the passing analysis with its measurements", got)
	}

	// A mistake in Git: rejected, with its error where it is.
	repo.Commit(t, map[string]string{"ratings.cue": fmt.Sprintf(`package intents

services: ratings: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: {v1: 40, v2: 50}}]
}
`, ns)}, "ratings: 40/50")
	waitFor("the rejected commit", "#commits .fate-rejected", "ratings: 40/50 by")
	want := "ratings.cue:6:12: services.ratings.routes[0].to: weights add up to 90, want 100 (hint: give the versions weights in percent that add up to 100)"
	if got := text("#commits .fate-rejected .errors"); got != want {
		t.Errorf("the rejected commit's errors:\n%s\nwant:\n%s", got, want)
	}
	shot("waiting-for-approval")

	// By keyboard: Approve without a token, then with one whose identity
	// may not write the state: both refused, saying why; nothing moves.
	tabTo("approve-reviews")
	press(kb.Enter)
	waitFor("approval without a token", "#decision-result", "no bearer token: the page is read-only without one")
	useToken(viewer)
	tabTo("approve-reviews")
	press(kb.Enter)
	waitFor("approval without the RBAC", "#decision-result",
		fmt.Sprintf("system:serviceaccount:%s:viewer may not get ConfigMap %s/promotion-reviews in the home cluster", ns, ns))
	if got := text("#promotion-reviews .phase"); got != "WaitingForApproval" {
		t.Fatalf("after refused approvals the promotion is %s", got)
	}
	shot("refused")

	// With the approver's token, it moves, and the page follows.
	useToken(approver)
	tabTo("approve-reviews")
	press(kb.Enter)
	by := "system:serviceaccount:" + ns + ":approver"
	waitFor("the approval", "#decision-result", "reviews: step to 50% approved by "+by)
	waitFor("the decision in the history", "#promotion-reviews .history", "step to 50% approved by "+by+" via page")
	waitFor("wave 1 at 50 %", "#fleet tbody tr", "v1 50 · v2 50")
	waitFor("the promotion", "#promotion-reviews .phase", "Promoted")
	shot("promoted")
	if mark, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.loadMark || "reloaded"`)); err != nil || mark != "first load" {
		t.Errorf("the page was %s (%v): it should follow the fleet without reloading", mark, err)
	}

	// The daemon goes away: the page says so.
	if err := d.stop(); err != nil {
		t.Errorf("stopping the daemon: %v", err)
	}
	waitFor("the lost connection", "#connection", "Connection lost")
}
