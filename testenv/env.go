package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configures Start.
type Options struct {
	// N is the number of clusters to start; 0 means 1.
	N int
	// Dir holds each cluster's state (etcd data, certs, logs) and the
	// kubeconfig. Empty means a new temporary directory that Stop removes;
	// a given Dir is kept, and Stop removes only what Start created in it.
	Dir string
	// Log receives progress: binary builds and startup timings. Nil means os.Stderr.
	Log io.Writer
	// Prefix names the clusters and their kubeconfig contexts Prefix+"1" ..
	// Prefix+"N". Empty means "c", giving c1..cN.
	Prefix string
}

// Env is a set of running clusters. Stop it when done.
type Env struct {
	// Kubeconfig is the path of a kubeconfig with one context per cluster,
	// named like the cluster, authenticated as the cluster's admin. Its
	// current context is the first cluster.
	Kubeconfig string
	// Clusters in the order of their names.
	Clusters []*Cluster
	// Dir is the state directory (Options.Dir or the temporary one).
	Dir string

	log      io.Writer
	ownDir   bool
	stopOnce sync.Once
	stopErr  error
}

// Cluster is one kube-apiserver with its own etcd, authenticating by bearer
// token and authorizing with RBAC, with Istio's CRDs installed.
type Cluster struct {
	// Name is the cluster's and its kubeconfig context's name, e.g. "c1".
	Name string
	// Host is the apiserver's URL, e.g. "https://127.0.0.1:40123".
	Host string
	// CAData is the PEM bundle that verifies the apiserver's self-signed certificate.
	CAData []byte
	// Token authenticates as "admin" in group system:masters.
	Token string
	// UserToken authenticates as UserName, which has no groups and no
	// RBAC bindings: it can do nothing until a test grants it rights.
	UserToken string

	dir     string
	bins    Bins
	log     io.Writer
	apiPort int
	etcdURL string

	mu        sync.Mutex
	etcd      *proc
	apiserver *proc
}

// UserName is the name of the non-admin user that Cluster.UserToken authenticates.
const UserName = "user"

const (
	adminName = "admin"
	// stopGrace is how long a child gets between SIGTERM and SIGKILL.
	stopGrace      = 5 * time.Second
	readyTimeout   = 3 * time.Minute
	tempDirPattern = "sailplan-testenv-"
	ownerFile      = "owner.pid"
)

// RESTConfig returns a config that authenticates as the admin.
func (c *Cluster) RESTConfig() *rest.Config {
	return c.restConfig(c.Token)
}

// UserRESTConfig returns a config that authenticates as the non-admin UserName.
func (c *Cluster) UserRESTConfig() *rest.Config {
	return c.restConfig(c.UserToken)
}

func (c *Cluster) restConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), c.CAData...)},
		// The defaults (5 QPS) throttle tests that apply many objects.
		QPS:   200,
		Burst: 400,
	}
}

// APIServerPID returns the running kube-apiserver's pid, 0 if it is stopped.
func (c *Cluster) APIServerPID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver == nil || c.apiserver.exited() {
		return 0
	}
	return c.apiserver.pid
}

// EtcdPID returns the running etcd's pid, 0 if it is stopped.
func (c *Cluster) EtcdPID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.etcd == nil || c.etcd.exited() {
		return 0
	}
	return c.etcd.pid
}

// Start starts opts.N clusters in parallel and returns once every apiserver
// is ready and serves Istio's CRDs through discovery. ctx bounds the startup
// only: the clusters run until Stop. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Env, error) {
	t0 := time.Now()
	if opts.N <= 0 {
		opts.N = 1
	}
	if opts.Prefix == "" {
		opts.Prefix = "c"
	}
	log := opts.Log
	if log == nil {
		log = os.Stderr
	}
	bins, err := Binaries(ctx, log)
	if err != nil {
		return nil, err
	}
	crds, err := istioCRDs(ctx)
	if err != nil {
		return nil, err
	}
	e := &Env{log: log, Dir: opts.Dir}
	if e.Dir == "" {
		removeStaleTempDirs()
		if e.Dir, err = os.MkdirTemp("", tempDirPattern); err != nil {
			return nil, fmt.Errorf("testenv: state dir: %w", err)
		}
		e.ownDir = true
		// Lets a later run remove this directory if we die without Stop.
		if err := os.WriteFile(filepath.Join(e.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			e.Stop()
			return nil, fmt.Errorf("testenv: state dir: %w", err)
		}
	} else if e.Dir, err = filepath.Abs(e.Dir); err != nil {
		return nil, fmt.Errorf("testenv: state dir: %w", err)
	}
	e.Kubeconfig = filepath.Join(e.Dir, "kubeconfig")

	saKey, err := serviceAccountKey()
	if err != nil {
		return nil, err
	}
	for i := 1; i <= opts.N; i++ {
		name := opts.Prefix + strconv.Itoa(i)
		dir := filepath.Join(e.Dir, name)
		// A leftover from an earlier run in a kept Dir would resurrect its objects.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		e.Clusters = append(e.Clusters, &Cluster{Name: name, dir: dir, bins: bins, log: log})
	}
	errs := make([]error, len(e.Clusters))
	var wg sync.WaitGroup
	for i, c := range e.Clusters {
		wg.Go(func() {
			errs[i] = c.start(ctx, saKey, crds)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.Stop()
		return nil, err
	}
	if err := e.writeKubeconfig(); err != nil {
		e.Stop()
		return nil, err
	}
	fmt.Fprintf(log, "testenv: %d cluster(s) ready in %s, kubeconfig %s\n", opts.N, time.Since(t0).Round(time.Millisecond), e.Kubeconfig)
	return e, nil
}

// Cluster returns the cluster with this name (e.g. "c2"), nil if none.
func (e *Env) Cluster(name string) *Cluster {
	for _, c := range e.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Stop stops every cluster (SIGTERM, then SIGKILL after a few seconds),
// waits until every process is gone and removes the state Start created.
// It is safe to call more than once and on a partly started Env.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, c := range e.Clusters {
			wg.Go(c.stop)
		}
		wg.Wait()
		var errs []error
		if e.ownDir {
			errs = append(errs, os.RemoveAll(e.Dir))
		} else {
			for _, c := range e.Clusters {
				errs = append(errs, os.RemoveAll(c.dir))
			}
			if err := os.Remove(e.Kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			e.stopErr = fmt.Errorf("testenv: stop: %w", err)
		}
	})
	return e.stopErr
}

func (c *Cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The apiserver first, so that it does not spend its shutdown retrying a dead etcd.
	if c.apiserver != nil {
		c.apiserver.stop(stopGrace)
	}
	if c.etcd != nil {
		c.etcd.stop(stopGrace)
	}
}

func (c *Cluster) start(ctx context.Context, saKey []byte, crds []byte) error {
	t0 := time.Now()
	if err := c.prepare(saKey); err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	if err := c.startEtcd(ctx); err != nil {
		return fmt.Errorf("cluster %s: etcd: %w", c.Name, err)
	}
	tEtcd := time.Since(t0)
	c.mu.Lock()
	err := c.startAPIServerLocked(ctx, true)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cluster %s: kube-apiserver: %w", c.Name, err)
	}
	tAPI := time.Since(t0)
	if err := installCRDs(ctx, c.RESTConfig(), crds); err != nil {
		return fmt.Errorf("cluster %s: istio CRDs: %w", c.Name, err)
	}
	fmt.Fprintf(c.log, "testenv: cluster %s ready at %s (etcd %s, apiserver %s, CRDs %s)\n", c.Name, c.Host,
		tEtcd.Round(time.Millisecond), (tAPI - tEtcd).Round(time.Millisecond), (time.Since(t0) - tAPI).Round(time.Millisecond))
	return nil
}

// prepare writes the files the apiserver reads: tokens and the service-account key.
func (c *Cluster) prepare(saKey []byte) error {
	for _, d := range []string{c.dir, filepath.Join(c.dir, "certs"), filepath.Join(c.dir, "etcd")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	c.Token, c.UserToken = randomToken(), randomToken()
	tokens := fmt.Sprintf("%s,%s,%s-uid,\"system:masters\"\n%s,%s,%s-uid\n", c.Token, adminName, adminName, c.UserToken, UserName, UserName)
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "sa.key"), saKey, 0o600)
}

// startEtcd starts etcd on fresh loopback ports and waits until it is healthy.
// Ports are picked by binding :0 and closing, so another process may grab one
// before etcd binds it; a bind failure is therefore retried with new ports.
func (c *Cluster) startEtcd(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = freePorts(2); err != nil {
			return err
		}
		clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		args := []string{
			"--name", c.Name,
			"--data-dir", filepath.Join(c.dir, "etcd"),
			"--listen-client-urls", clientURL,
			"--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", c.Name + "=" + peerURL,
			"--initial-cluster-state", "new",
			// Test data need not survive a machine crash; fsync dominates write latency.
			"--unsafe-no-fsync",
			"--log-level", "warn",
		}
		p, perr := startProc("etcd", c.bins.Etcd, args, c.dir, filepath.Join(c.dir, "etcd.log"))
		if perr != nil {
			return perr
		}
		c.mu.Lock()
		c.etcd = p
		c.mu.Unlock()
		err = waitHTTP(ctx, p, func(ctx context.Context) error { return etcdHealthy(ctx, clientURL) })
		if err == nil {
			c.etcdURL = clientURL
			return nil
		}
		p.stop(stopGrace)
		if !strings.Contains(p.logTail(), "address already in use") {
			break
		}
		// etcd refuses to reuse a data dir it half-initialised with other URLs.
		if rerr := os.RemoveAll(filepath.Join(c.dir, "etcd")); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

func etcdHealthy(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) {
		return fmt.Errorf("health: %s %s", resp.Status, body)
	}
	return nil
}

func (c *Cluster) apiServerArgs() []string {
	return []string{
		"--etcd-servers", c.etcdURL,
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(c.apiPort),
		"--cert-dir", filepath.Join(c.dir, "certs"),
		"--token-auth-file", filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		// No controller-manager creates service accounts, so pods could not be admitted.
		"--disable-admission-plugins", "ServiceAccount",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(c.dir, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(c.dir, "sa.key"),
		// Background work no test needs, off without touching authentication
		// or RBAC: priority and fairness would throttle bursts of test
		// requests with 429s, and the endpoint reconciler would publish a
		// loopback address for the kubernetes service that no pod could use.
		// (Startup time is the same either way: ~2.5s per apiserver here.)
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type", "none",
		"--profiling=false",
	}
}

// StopAPIServer stops the cluster's kube-apiserver gracefully (SIGTERM, then
// SIGKILL) and waits until it has exited. etcd keeps running, so
// StartAPIServer brings the same data back on the same address.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver == nil || c.apiserver.exited() {
		return nil
	}
	done := make(chan struct{})
	go func() {
		c.apiserver.stop(stopGrace)
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster %s: stop kube-apiserver: %w", c.Name, ctx.Err())
	}
}

// KillAPIServer kills the cluster's kube-apiserver with SIGKILL, as a crash
// would, and waits until it has exited.
func (c *Cluster) KillAPIServer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil {
		c.apiserver.kill()
	}
}

// StartAPIServer starts the cluster's kube-apiserver again after
// StopAPIServer or KillAPIServer, on the same address, with the same
// certificate and tokens, and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver != nil && !c.apiserver.exited() {
		return fmt.Errorf("cluster %s: kube-apiserver: already running", c.Name)
	}
	if err := c.startAPIServerLocked(ctx, false); err != nil {
		return fmt.Errorf("cluster %s: kube-apiserver: %w", c.Name, err)
	}
	return nil
}

// startAPIServerLocked starts the apiserver and waits for /readyz. On the
// first start it may pick a new port when the chosen one was taken; a
// restart must keep its port because clients already point at it.
func (c *Cluster) startAPIServerLocked(ctx context.Context, first bool) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if first {
			ports, perr := freePorts(1)
			if perr != nil {
				return perr
			}
			c.apiPort = ports[0]
			c.Host = fmt.Sprintf("https://127.0.0.1:%d", c.apiPort)
		}
		p, perr := startProc("kube-apiserver", c.bins.APIServer, c.apiServerArgs(), c.dir, filepath.Join(c.dir, "kube-apiserver.log"))
		if perr != nil {
			return perr
		}
		c.apiserver = p
		err = waitHTTP(ctx, p, c.apiServerReady)
		if err == nil {
			return nil
		}
		p.stop(stopGrace)
		if !first || !strings.Contains(p.logTail(), "address already in use") {
			break
		}
	}
	return err
}

// apiServerReady reads the CA as soon as the apiserver has written its
// self-signed certificate, then asks /readyz over verified TLS.
func (c *Cluster) apiServerReady(ctx context.Context) error {
	if len(c.CAData) == 0 {
		ca, err := os.ReadFile(filepath.Join(c.dir, "certs", "apiserver.crt"))
		if err != nil {
			return err
		}
		c.CAData = ca
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w: %s", err, body)
	}
	return nil
}

// waitHTTP polls ready until it succeeds, the process exits or ctx or
// readyTimeout runs out; errors carry the process's log tail.
func waitHTTP(ctx context.Context, p *proc, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		last = ready(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited (%v) before it was ready; log %s:\n%s", p.err, p.logPath, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v); log %s:\n%s", ctx.Err(), last, p.logPath, p.logTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *Env) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	for _, c := range e.Clusters {
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
		cfg.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{Token: c.Token}
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name}
	}
	if len(e.Clusters) > 0 {
		cfg.CurrentContext = e.Clusters[0].Name
	}
	// Written whole and renamed so that a reader polling for it never sees half a file.
	tmp := e.Kubeconfig + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.Rename(tmp, e.Kubeconfig); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}

// serviceAccountKey makes the RSA key the apiservers sign and verify
// service-account tokens with; one key serves every cluster of an Env.
func serviceAccountKey() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// removeStaleTempDirs deletes temporary state dirs of test processes that
// died without Stop (their children died with them through Pdeathsig, but
// their files stayed).
func removeStaleTempDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPattern+"*"))
	for _, dir := range matches {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}

// Down stops the cluster's kube-apiserver, as an outage would, for the
// rest of the test; up starts it again, and the test's cleanup does if up
// was not called.
func (c *Cluster) Down(t testing.TB) (up func()) {
	t.Helper()
	if err := c.StopAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	started := false
	t.Cleanup(func() {
		if started {
			return
		}
		// t.Context is canceled by the time cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.StartAPIServer(ctx); err != nil {
			t.Errorf("cluster %s: starting kube-apiserver again: %v", c.Name, err)
		}
	})
	return func() {
		t.Helper()
		started = true
		if err := c.StartAPIServer(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}
