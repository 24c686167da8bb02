package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/testenv"
)

// daemon is `sailplan run` in the background, as an operator starts it.
type daemon struct {
	cmd  *exec.Cmd
	logs testenv.LogBuffer
	done chan error
}

func (d *daemon) log() string { return d.logs.String() }

// startDaemon runs sailplan with args until stop or the end of the test.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{done: make(chan error, 1)}
	d.cmd = exec.Command(os.Args[0], args...)
	d.cmd.Env = append(os.Environ(), asCommand+"=1", "KUBECONFIG="+env.Kubeconfig)
	d.cmd.Stdout, d.cmd.Stderr = &d.logs, &d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.stop() != nil && t.Failed() {
			t.Logf("daemon log:\n%s", d.log())
		}
	})
	return d
}

// get asks the daemon's HTTP server for path and returns the status code
// and body; the address is the one the daemon logged.
func (d *daemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	m := regexp.MustCompile(`msg="sailplan running".* listen=(\S+)`).FindStringSubmatch(d.log())
	if m == nil {
		t.Fatalf("the daemon did not log where it listens:\n%s", d.log())
	}
	resp, err := http.Get("http://" + m[1] + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop() error {
	if d.cmd.ProcessState != nil {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		return err
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		return fmt.Errorf("daemon did not stop within 30s of SIGTERM")
	}
}

// statusOf runs `sailplan status -o json` and `sailplan status`, and
// returns the JSON's status, the text, the exit code (-1 when the two
// differ, the fleet having moved in between) and how long the text took.
// Before any status is kept, the JSON is empty.
func statusOf(t *testing.T, args ...string) (statusOutput, string, int, time.Duration) {
	t.Helper()
	out, stderr, code := sailplan(t, append([]string{"status", "-o", "json"}, args...)...)
	var js statusOutput
	if err := json.Unmarshal([]byte(out), &js); err != nil && !strings.Contains(stderr, "no sailplan status in") {
		t.Fatalf("status -o json: exit %d, %v\nstdout %s\nstderr %s", code, err, out, stderr)
	}
	start := time.Now()
	text, stderr, textCode := sailplan(t, append([]string{"status"}, args...)...)
	took := time.Since(start)
	if textCode != code {
		// The fleet moved between the two reads: say so in the code.
		code = -1
	}
	return js, text + stderr, code, took
}

// waitStatus polls status until cond holds, and returns what satisfied it.
func waitStatus(t *testing.T, what string, cond func(js statusOutput, text string, code int) bool, args ...string) (statusOutput, string, int, time.Duration) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var js statusOutput
	var text string
	var code int
	var took time.Duration
	for time.Now().Before(deadline) {
		js, text, code, took = statusOf(t, args...)
		if cond(js, text, code) {
			return js, text, code, took
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: not within 90s; last status (exit %d):\n%s", what, code, text)
	return js, text, code, took
}

// lines matches text line by line against regular expressions, which
// must all be found, in order.
func lines(t *testing.T, what, text string, want ...string) {
	t.Helper()
	rest := text
	for _, w := range want {
		loc := regexp.MustCompile("(?m)^" + w + "$").FindStringIndex(rest)
		if loc == nil {
			t.Errorf("%s: no line matching %q after what came before, in:\n%s", what, w, text)
			return
		}
		rest = rest[loc[1]:]
	}
}

const (
	date = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`
	sha  = `[0-9a-f]{7}`
)

// TestStatusTellsTheTruth runs the daemon against two real clusters and a
// real Git server, and checks what `sailplan status` says, as text and as
// JSON, through a rejected commit, a Git server that goes away and comes
// back, a cluster that stops answering and answers again, and the daemon
// being stopped: each shows, with its error, and clears when fixed.
func TestStatusTellsTheTruth(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	good := repo.Commit(t, map[string]string{"fleet.cue": testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2}), "reviews.cue": testenv.ReviewsCUE(ns, 90, 10)}, "reviews 90/10")
	d := startDaemon(t, "run", "--repo", repo.URL(), "--interval", "300ms", "--listen", "127.0.0.1:0", "--applyset-namespace", ns)
	at := []string{"--applyset-namespace", ns}
	healthy := func(commit string) func(statusOutput, string, int) bool {
		return func(js statusOutput, _ string, code int) bool {
			c, ok := js.Status.Applied()
			return code == 0 && ok && c.Commit.Hash == commit
		}
	}

	js, text, _, _ := waitStatus(t, "first commit applied", healthy(good), at...)
	lines(t, "status after the first commit", text,
		`SOURCE   git `+regexp.QuoteMeta(repo.URL()),
		`HEAD     `+good[:7]+` "reviews 90/10" by `+testenv.GitAuthorName+`: applied`,
		`CLUSTER +WAVE +STATE +SINCE +COMMIT +APPLIED +CREATED +CONFIGURED +UNCHANGED +PRUNED`,
		`c1 +1 +synced +`+date+` +`+good[:7]+` +`+date+` +2 +0 +0 +0`,
		`c2 +2 +synced +`+date+` +`+good[:7]+` +`+date+` +2 +0 +0 +0`,
		`recorded `+date+` by sailplan run on .*; read from c[12]`)
	if !js.Healthy || js.WrittenBy == "" {
		t.Errorf("JSON: healthy %v, written by %q", js.Healthy, js.WrittenBy)
	}
	for path, want := range map[string]string{"/readyz": "ready: leader", "/livez": "ok: leader"} {
		if code, body := d.get(t, path); code != 200 || body != want {
			t.Errorf("%s = %d %q, want 200 %q", path, code, body, want)
		}
	}

	// A commit whose weights add up to 90: rejected, with its error at its
	// file and line; the clusters keep the good commit.
	bad := repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 80, 10)}, "weights add to 90")
	js, text, code, _ := waitStatus(t, "rejected commit shown", func(js statusOutput, _ string, code int) bool {
		c, ok := js.Status.Commit(bad)
		return code == 1 && ok && c.Fate == notify.FateRejected
	}, at...)
	wantErr := "reviews.cue:8:4: services.reviews.routes[1].to: weights add up to 90, want 100 (hint: give the versions weights in percent that add up to 100)"
	lines(t, "status with a rejected head", text,
		`HEAD     `+bad[:7]+` "weights add to 90" by `+testenv.GitAuthorName+`: rejected \(invalid\)`,
		`           `+regexp.QuoteMeta(wantErr),
		`APPLIED  `+good[:7]+` "reviews 90/10" by `+testenv.GitAuthorName+`: everywhere since `+date,
		`c1 +1 +synced .*`, `c2 +2 +synced .*`)
	if c := js.Status.Commits[0]; c.Fate != notify.FateRejected || c.Reason != notify.RejectedInvalid || len(c.Errors) != 1 || c.Errors[0] != wantErr || js.Healthy {
		t.Errorf("JSON of the rejected head: %+v, healthy %v", c, js.Healthy)
	}
	if code != 1 {
		t.Errorf("status exit %d with a rejected head, want 1", code)
	}
	fixed := repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 50, 50)}, "reviews 50/50")
	waitStatus(t, "fixed commit applied", healthy(fixed), at...)

	// The Git server goes away: the source's error shows, once in the
	// daemon's log; the clusters keep the last commit; it clears.
	srv.Stop()
	js, text, _, _ = waitStatus(t, "source error shown", func(js statusOutput, _ string, code int) bool {
		return code == 1 && js.Status.Source.Error != ""
	}, at...)
	lines(t, "status while Git is down", text,
		`SOURCE   git `+regexp.QuoteMeta(repo.URL())+`: failing since `+date+`: listing references: .*connection refused`,
		`HEAD     `+fixed[:7]+` "reviews 50/50" by .*: applied`)
	if !strings.Contains(js.Status.Source.Error, "connection refused") || js.Healthy {
		t.Errorf("JSON source while Git is down: %+v, healthy %v", js.Status.Source, js.Healthy)
	}
	if code, body := d.get(t, "/readyz"); code != 503 || !strings.HasPrefix(body, "not ready: the source does not answer: listing references: ") {
		t.Errorf("/readyz while Git is down = %d %q, want 503 saying the source does not answer", code, body)
	}
	if code, body := d.get(t, "/livez"); code != 200 {
		t.Errorf("/livez while Git is down = %d %q, want 200: the loop goes on", code, body)
	}
	time.Sleep(2 * time.Second) // several polls fail
	if n := strings.Count(d.log(), "source failed"); n != 1 {
		t.Errorf("the daemon logged %d source failures for one outage, want 1:\n%s", n, d.log())
	}
	srv.Start(t)
	waitStatus(t, "source error cleared", func(js statusOutput, _ string, code int) bool {
		return code == 0 && js.Status.Source.Error == ""
	}, at...)

	// c2 stops answering: status still answers at once, from c1's copy,
	// which says c2 is unreachable and why.
	up := env.Cluster("c2").Down(t)
	js, text, _, took := waitStatus(t, "unreachable cluster shown", func(js statusOutput, _ string, code int) bool {
		return code == 1 && js.Status.Clusters["c2"].State == notify.StateUnreachable
	}, at...)
	lines(t, "status with c2 down", text,
		`c1 +1 +synced .*`,
		`c2 +2 +unreachable +`+date+` +`+fixed[:7]+` .*`,
		`c2: unreachable since `+date+`: Get "https://127\.0\.0\.1:\d+/version\?timeout=\d+s": dial tcp 127\.0\.0\.1:\d+: connect: connection refused`,
		`recorded `+date+` by sailplan run on .*; read from c1; c2 not read from here: ConfigMap/`+ns+`/sailplan-status: .*connection refused`)
	if strings.Contains(text, "cluster c2: cluster c2") {
		t.Errorf("an error repeats its subject:\n%s", text)
	}
	if took > 2*time.Second {
		t.Errorf("status took %s with a cluster down, want one or two seconds", took)
	}
	if js.ReadFrom != "c1" || !strings.Contains(js.Unread["c2"], "connection refused") {
		t.Errorf("JSON: read from %s, unread %v", js.ReadFrom, js.Unread)
	}
	up()
	waitStatus(t, "c2 synced again", func(js statusOutput, _ string, code int) bool {
		return code == 0 && js.Status.Clusters["c2"].State == notify.StateSynced && len(js.Unread) == 0
	}, at...)

	// With the daemon stopped, the clusters still say what they hold.
	if err := d.stop(); err != nil {
		t.Fatalf("daemon: %v", err)
	}
	// It said it was stopping, then stopped, and nothing in between
	// blames a cluster or the source for the shutdown.
	_, after, ok := strings.Cut(d.log(), "sailplan stopping")
	if !ok || !strings.Contains(after, `msg="sailplan stopped"`) {
		t.Errorf("the daemon's log lacks the shutdown lines:\n%s", d.log())
	}
	for _, bad := range []string{"unreachable", "level=ERROR", "level=WARN"} {
		if strings.Contains(after, bad) {
			t.Errorf("after SIGTERM the log says %q:\n%s", bad, after)
		}
	}
	js, text, code, _ = statusOf(t, at...)
	if code != 0 || js.Status.Head != fixed {
		t.Errorf("status with the daemon stopped: exit %d, head %s; want 0 and %s:\n%s", code, js.Status.Head, fixed, text)
	}
}

// TestStatusShowsWarnings: the head's warnings are listed under it, each
// at its file and line, and the commit still counts as applied.
func TestStatusShowsWarnings(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	head := notify.Commit{Hash: strings.Repeat("a", 40), Author: "alice", Message: "payments over TLS"}
	var out statusOutput
	out.Status = notify.Status{Head: head.Hash, Commits: []notify.CommitStatus{{Commit: head, Fate: notify.FateApplied, Seen: at, Done: at,
		Warnings: []string{"payments.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates (IST0128)"}}}}
	var b strings.Builder
	if err := printStatus(&b, out); err != nil {
		t.Fatal(err)
	}
	want := "HEAD     aaaaaaa \"payments over TLS\" by alice: applied\n" +
		"           warning: payments.cue:6:10: services.payments.policy.tls: tls mode SIMPLE originates TLS without caCertificates (IST0128)\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("status lacks\n%s\ngot:\n%s", want, b.String())
	}
}
