package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's prometheus package)
// scraping the targets a test gives it every second.
type Prometheus struct {
	// URL is the HTTP API's base URL.
	URL string

	dir  string
	addr string
	args []string
	proc *proc
}

// StartPrometheus starts Prometheus on a free loopback port, scraping each
// target (host:port) every second, and stops it when the test ends. It
// fails the test, saying what to install, when the binary is missing.
func StartPrometheus(t testing.TB, targets ...string) *Prometheus {
	t.Helper()
	return StartPrometheusWithRules(t, nil, targets...)
}

// StartPrometheusWithRules is StartPrometheus that also evaluates the
// rules files (alerts and recording rules) every second.
func StartPrometheusWithRules(t testing.TB, rules []string, targets ...string) *Prometheus {
	t.Helper()
	p, err := runPrometheus(t.Context(), t.TempDir(), rules, targets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// RunPrometheus starts Prometheus with its state in dir, scraping each
// target every second. Stop it when done.
func RunPrometheus(ctx context.Context, dir string, targets ...string) (*Prometheus, error) {
	return runPrometheus(ctx, dir, nil, targets)
}

func runPrometheus(ctx context.Context, dir string, rules, targets []string) (*Prometheus, error) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, fmt.Errorf("prometheus: not found (install Debian's prometheus package; `make deps` does): %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: test
  static_configs:
  - targets: [%s]
`, strings.Join(quoted, ", "))
	if len(rules) > 0 {
		config += "rule_files:\n"
		for _, r := range rules {
			abs, err := filepath.Abs(r)
			if err != nil {
				return nil, fmt.Errorf("prometheus: rules %s: %w", r, err)
			}
			config += fmt.Sprintf("- %q\n", abs)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	p := &Prometheus{
		addr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		dir:  dir,
	}
	p.URL = "http://" + p.addr
	p.args = []string{bin,
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + p.addr,
		"--log.level=warn",
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Start starts (or restarts) Prometheus with the same storage and address,
// and waits until it is ready.
func (p *Prometheus) Start(ctx context.Context) error {
	pr, err := startProc("prometheus", p.args[0], p.args[1:], p.dir, filepath.Join(p.dir, "prometheus.log"))
	if err != nil {
		return err
	}
	p.proc = pr
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(filepath.Join(p.dir, "prometheus.log"))
			p.Stop()
			return fmt.Errorf("prometheus at %s: not ready: %w\n%s", p.URL, ctx.Err(), log)
		case <-pr.done:
			log, _ := os.ReadFile(filepath.Join(p.dir, "prometheus.log"))
			return fmt.Errorf("prometheus exited during start:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops Prometheus; the data stays for a Start.
func (p *Prometheus) Stop() {
	if p.proc != nil {
		p.Thaw() // a frozen process would sit out SIGTERM's grace
		p.proc.stop(stopGrace)
		p.proc = nil
	}
}

// Freeze stops Prometheus with SIGSTOP: it keeps its port and accepts
// connections, but answers nothing until Thaw, as a hung server does.
func (p *Prometheus) Freeze() {
	if p.proc != nil {
		_ = syscall.Kill(-p.proc.pid, syscall.SIGSTOP)
	}
}

// Thaw lets a frozen Prometheus go on (SIGCONT).
func (p *Prometheus) Thaw() {
	if p.proc != nil {
		_ = syscall.Kill(-p.proc.pid, syscall.SIGCONT)
	}
}
