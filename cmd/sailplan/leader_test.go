package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sailplan/sailplan/testenv"
)

// write is one write request that went through a spy.
type write struct {
	at      time.Time // when it reached the spy, before the apiserver saw it
	cluster string
	method  string
	path    string
	code    int
}

func (w write) String() string {
	return fmt.Sprintf("%s %s %s %s -> %d", w.at.Format("15:04:05.000"), w.cluster, w.method, w.path, w.code)
}

// writeSpy stands in front of the apiservers for one daemon: its
// kubeconfig points at the spy, which forwards every request with the
// admin's credentials and records the writes (POST, PUT, PATCH, DELETE),
// so that the test knows exactly which process wrote what, and when.
type writeSpy struct {
	mu     sync.Mutex
	writes []write
}

// kubeconfig starts one proxy per cluster and writes a kubeconfig with a
// context per cluster through them, c1 current, as env.Kubeconfig has.
func (s *writeSpy) kubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, c := range env.Clusters {
		upstream, err := url.Parse(c.Host)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := rest.TransportFor(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		name := c.Name
		proxy := &httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(upstream) },
			Transport: rt,
			// Watches stream.
			FlushInterval: -1,
			// Watches the daemons end are not errors.
			ErrorLog: log.New(io.Discard, "", 0),
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				proxy.ServeHTTP(w, r)
				return
			}
			at := time.Now()
			rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
			proxy.ServeHTTP(rec, r)
			s.mu.Lock()
			s.writes = append(s.writes, write{at: at, cluster: name, method: r.Method, path: r.URL.Path, code: rec.code})
			s.mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: srv.URL}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = env.Clusters[0].Name
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// done are the writes the apiservers accepted: a refused one (a
// conflict, a namespace that exists already) changed nothing.
func (s *writeSpy) done() []write {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []write
	for _, w := range s.writes {
		if w.code < 300 {
			out = append(out, w)
		}
	}
	return out
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (r *codeRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush passes the proxy's flushes on, for watches.
func (r *codeRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// replica is one `sailplan run` process with its own spy.
type replica struct {
	name string
	d    *daemon
	spy  *writeSpy
}

func (r *replica) leads() bool { return regexp.MustCompile(`msg=leading `).MatchString(r.d.log()) }

func (r *replica) wrote(kind string) bool {
	for _, w := range r.spy.done() {
		if strings.Contains(w.path, "/"+kind+"/") || strings.HasSuffix(w.path, "/"+kind) {
			return true
		}
	}
	return false
}

func (r *replica) pid() string { return strconv.Itoa(r.d.cmd.Process.Pid) }

// TestReplicasNeverBothWrite runs sailplan as an operator runs two
// replicas, without --home-context: two `sailplan run` processes against
// two real clusters, each through a spy that records its writes. Only one
// leads, and every write (objects, ApplySet parents, status, Lease) is
// its own; the standby writes nothing at all. When the leader stops
// (SIGTERM), the standby takes over and applies the next commit, and its
// first write comes after the last write of the old leader. When the new
// leader dies (SIGKILL, no Lease given back), a third replica waits for
// the Lease to expire, then applies the next commit.
func TestReplicasNeverBothWrite(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	fleet := testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2})
	commit := repo.Commit(t, map[string]string{"fleet.cue": fleet, "reviews.cue": testenv.ReviewsCUE(ns, 90, 10)}, "reviews 90/10")
	const lease = 3 * time.Second
	start := func(name string) *replica {
		r := &replica{name: name, spy: &writeSpy{}}
		// The Lease in the test's namespace of c1 (the current context),
		// apart from other tests' daemons.
		r.d = startDaemon(t, "run", "--repo", repo.URL(), "--interval", "300ms", "--listen", "127.0.0.1:0",
			"--kubeconfig", r.spy.kubeconfig(t), "--applyset-namespace", ns, "--state-namespace", ns, "--lease-duration", lease.String())
		return r
	}
	at := []string{"--applyset-namespace", ns}
	applied := func(what, commit string) statusOutput {
		t.Helper()
		js, _, _, _ := waitStatus(t, what, func(js statusOutput, _ string, code int) bool {
			c, ok := js.Status.Applied()
			return code == 0 && ok && c.Commit.Hash == commit
		}, at...)
		return js
	}
	// leader waits until one of rs logs that it leads, and returns it.
	leader := func(rs ...*replica) *replica {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range rs {
				if r.leads() {
					return r
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no replica leads within 30s")
		return nil
	}
	// standbyWroteNothing: a standby reads, and writes nothing at all.
	standbyWroteNothing := func(s *replica) {
		t.Helper()
		if s.leads() {
			t.Errorf("replica %s leads too:\n%s", s.name, s.d.log())
		}
		if ws := s.spy.done(); len(ws) > 0 {
			t.Errorf("standby %s wrote %d times:\n%s", s.name, len(ws), join(ws))
		}
		if code, body := s.d.get(t, "/readyz"); code != 200 || body != "ready: standby" {
			t.Errorf("standby %s /readyz = %d %q", s.name, code, body)
		}
	}
	// leaderWrote: the leader wrote the objects, the status and the Lease.
	leaderWrote := func(l *replica, js statusOutput) {
		t.Helper()
		for _, kind := range []string{"virtualservices", "configmaps", "leases"} {
			if !l.wrote(kind) {
				t.Errorf("leader %s wrote no %s:\n%s", l.name, kind, join(l.spy.done()))
			}
		}
		if !strings.Contains(js.WrittenBy, "(pid "+l.pid()+")") {
			t.Errorf("status written by %q, want leader %s (pid %s)", js.WrittenBy, l.name, l.pid())
		}
		if code, body := l.d.get(t, "/readyz"); code != 200 || body != "ready: leader" {
			t.Errorf("leader %s /readyz = %d %q", l.name, code, body)
		}
	}

	a, b := start("a"), start("b")
	applied("first commit applied", commit)
	first := leader(a, b)
	standby := b
	if first == b {
		standby = a
	}
	// More commits and polls, with both running.
	commit = repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 50, 50)}, "reviews 50/50")
	js := applied("second commit applied", commit)
	time.Sleep(2 * lease) // polls, drift watches and Lease renewals go on
	leaderWrote(first, js)
	standbyWroteNothing(standby)

	// The leader stops: the standby takes over once the leader's term
	// has ended, and applies the next commit.
	if err := first.d.stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	commit = repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 30, 70)}, "reviews 30/70")
	js = applied("third commit applied by the standby", commit)
	second := leader(standby)
	leaderWrote(second, js)
	old, cur := first.spy.done(), second.spy.done()
	if last := old[len(old)-1]; !cur[0].at.After(last.at) {
		t.Errorf("the new leader %s wrote at %s, before the old leader's last write %s", second.name, cur[0].at.Format("15:04:05.000"), last)
	}
	if took := cur[0].at.Sub(stopped); took > lease {
		// The old leader gave the Lease back: no need to wait for it to expire.
		t.Errorf("the standby took over %s after the leader stopped, want less than the lease (%s)", took, lease)
	}

	// A new replica joins as a standby; then the leader dies without a
	// word, and the newcomer waits out the Lease before it writes.
	c := start("c")
	time.Sleep(2 * lease)
	standbyWroteNothing(c)
	if err := second.d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-second.d.done
	killed := time.Now()
	commit = repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 10, 90)}, "reviews 10/90")
	js = applied("fourth commit applied after the leader died", commit)
	leader(c)
	leaderWrote(c, js)
	if w := c.spy.done()[0]; w.at.Sub(killed) < lease-time.Second {
		t.Errorf("replica c wrote %s after the leader died, before its Lease (%s) could expire: %s", w.at.Sub(killed), lease, w)
	}
	if ws := first.spy.done(); len(ws) != len(old) {
		t.Errorf("the stopped replica %s wrote after it stopped", first.name)
	}
}

func join(ws []write) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestLeaseNowhereOrForbidden: a daemon that could never lead says so and
// exits, rather than wait as a standby for ever with probes that say all
// is well.
func TestLeaseNowhereOrForbidden(t *testing.T) {
	env.Need(t)
	c := env.Clusters[0]
	kubeconfig := func(token, current string) string {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
		cfg.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
		cfg.CurrentContext = current
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := []string{"run", "--repo", "https://git.example.com/intents.git", "--listen", "127.0.0.1:0"}

	_, stderr, code := sailplan(t, append(run, "--kubeconfig", kubeconfig(c.Token, ""))...)
	want := "sailplan: the leader lease needs a cluster: give --lease-context (or --home-context), or set the kubeconfig's current-context\n"
	if code != 2 || stderr != want {
		t.Errorf("no current context: exit %d, stderr\n%s\nwant exit 2 and\n%s", code, stderr, want)
	}

	_, stderr, code = sailplan(t, append(run, "--kubeconfig", kubeconfig(c.UserToken, c.Name))...)
	want = `sailplan: leader lease sailplan-system/sailplan in c1: leases.coordination.k8s.io "sailplan" is forbidden: User "user" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "sailplan-system" (sailplan needs get, create and update on leases in sailplan-system there: deploy/rbac)` + "\n"
	if code != 2 || stderr != want {
		t.Errorf("lease forbidden: exit %d, stderr\n%s\nwant exit 2 and\n%s", code, stderr, want)
	}
}
