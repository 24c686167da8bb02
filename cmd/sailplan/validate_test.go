package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sailplan/sailplan/testenv"
)

// bombDir is issue 10's repository: the quickstart and a comprehension
// over list.Range(0, 5000000, 1) building structs with interpolated
// strings.
const bombDir = "../../schema/bounded/testdata/bomb"

func TestValidateOverLimit(t *testing.T) {
	out, stderr, code := sailplan(t, "validate", "--eval-memory", "256MiB", bombDir)
	want := "sailplan: evaluation used more than 256 MiB (--eval-memory): the intents are rejected; look for a comprehension " +
		"that builds a great many values, such as one over list.Range(0, 5000000, 1), or a very long string, or raise --eval-memory " +
		"if they really need the memory\n"
	if code != 1 || out != "" || stderr != want {
		t.Errorf("validate over the memory limit: exit %d, stdout %q, stderr\n%s\nwant exit 1, nothing on stdout and stderr\n%s", code, out, stderr, want)
	}
	out, stderr, code = sailplan(t, "validate", "--eval-timeout", "1s", bombDir)
	if code != 1 || !strings.HasPrefix(stderr, "sailplan: evaluation took longer than 1s (--eval-timeout): the intents are rejected; ") {
		t.Errorf("validate over the time limit: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestValidateStopsOnSIGTERM: SIGTERM in the middle of an evaluation ends
// sailplan within a second, and its evaluation with it.
func TestValidateStopsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "validate", bombDir)
	cmd.Env = append(os.Environ(), asCommand+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	child := evaluating(t, cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signaled := time.Now()
	err := cmd.Wait()
	took := time.Since(signaled)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || stderr.String() != "sailplan: evaluation stopped: terminated signal received\n" {
		t.Errorf("validate after SIGTERM: %v, stderr %q; want exit 1 and the evaluation stopped", err, stderr.String())
	}
	if took > time.Second {
		t.Errorf("validate exited %s after SIGTERM, want within a second", took)
	}
	if testenv.Alive(child) {
		t.Errorf("the evaluation (pid %d) outlived sailplan", child)
	}
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
}

// evaluating waits until the process pid has a child that has grown past
// 100 MiB, an evaluation well under way, and returns the child's pid.
func evaluating(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, stat := range stats {
			b, err := os.ReadFile(stat)
			// After the command's name in parentheses, which may hold
			// anything: state, ppid, ...
			i := bytes.LastIndexByte(b, ')')
			if err != nil || i < 0 {
				continue
			}
			fields := strings.Fields(string(b[i+1:]))
			if len(fields) < 22 || fields[1] != strconv.Itoa(pid) {
				continue
			}
			if rss, _ := strconv.ParseInt(fields[21], 10, 64); rss*int64(os.Getpagesize()) > 100<<20 {
				child, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
				return child
			}
		}
	}
	t.Fatal("no evaluation started within 30 s")
	return 0
}

// TestValidateStrict: a warning is printed and the intents are valid;
// --strict makes it an error, exit 1.
func TestValidateStrict(t *testing.T) {
	dir := t.TempDir()
	src := "package intents\n\nfleet: clusters: c1: {}\nservices: payments: {\n\tversions: v1: labels: version: \"v1\"\n\tpolicy: tls: mode: \"SIMPLE\"\n\troutes: [{to: v1: 100}]\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "payments.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	warning := `payments.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates, so the server's certificate may not be verified (IST0128) (hint: set caCertificates (a CA bundle file in the proxy) or credentialName (a secret with ca.crt); if no verification is meant, say so with insecureSkipVerify: true)`

	out, stderr, code := sailplan(t, "validate", dir)
	if want := dir + ": valid: 1 services, 1 clusters, 1 warning\n"; code != 0 || out != want || stderr != warning+"\n" {
		t.Errorf("validate: exit %d, stdout %q, stderr\n%s\nwant exit 0, stdout %q and stderr\n%s", code, out, stderr, want, warning)
	}
	out, stderr, code = sailplan(t, "validate", "--strict", dir)
	if want := "sailplan: --strict: " + warning + "\n"; code != 1 || out != "" || stderr != want {
		t.Errorf("validate --strict: exit %d, stdout %q, stderr\n%s\nwant exit 1, nothing on stdout and stderr\n%s", code, out, stderr, want)
	}
	two := strings.Replace(src, `policy: tls: mode: "SIMPLE"`, `policy: tls: mode: "SIMPLE"`+"\n\tversions: v1: policy: tls: mode: \"MUTUAL\", versions: v1: policy: tls: credentialName: \"c\"", 1)
	if err := os.WriteFile(filepath.Join(dir, "payments.cue"), []byte(two+"authorization: deny: {namespace: \"default\", action: \"DENY\", rules: [{to: [{paths: [\"/x\"]}]}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = sailplan(t, "validate", "--strict", dir)
	want := "sailplan: --strict: 2 warnings:\n  " +
		`payments.cue:6:10: services.payments.policy.tls: warning: tls mode SIMPLE originates TLS without caCertificates, so the server's certificate may not be verified (IST0128) (hint: set caCertificates (a CA bundle file in the proxy) or credentialName (a secret with ca.crt); if no verification is meant, say so with insecureSkipVerify: true)` + "\n  " +
		`payments.cue:10:69: authorization.deny.rules[0]: warning: a DENY rule that names no ports denies every TCP connection to the selected workloads, since only HTTP traffic has the attributes it tests (Istio warns about it too) (hint: add ports: [...] to the rule's to, with the workloads' container ports that serve HTTP)` + "\n"
	if code != 1 || out != "" || stderr != want {
		t.Errorf("validate --strict with two warnings: exit %d, stdout %q, stderr\n%s\nwant exit 1, nothing on stdout and stderr\n%s", code, out, stderr, want)
	}
	out, stderr, code = sailplan(t, "validate", "--strict", "../../examples/jwt-edge")
	if code != 0 || stderr != "" {
		t.Errorf("validate --strict of an example: exit %d, stdout %q, stderr %q; want exit 0 and no warning", code, out, stderr)
	}
}
