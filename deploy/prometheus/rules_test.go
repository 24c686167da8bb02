package prometheus

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v2"
)

// promtool finds promtool as testenv finds prometheus: on PATH, from
// Debian's prometheus package.
func promtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool: not found (install Debian's prometheus package; `make deps` does): %v", err)
	}
	return bin
}

// run runs promtool with args in this directory and fails with its output.
func run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRulesCheck: promtool accepts the rules file.
func TestRulesCheck(t *testing.T) {
	out := run(t, "check", "rules", "rules.yaml")
	if !strings.Contains(out, "SUCCESS: 7 rules found") {
		t.Errorf("promtool check rules: want 7 rules, got\n%s", out)
	}
}

// TestRulesFireAndResolve: promtool's unit tests (rules_test.yaml) see
// every alert fire, and resolve.
func TestRulesFireAndResolve(t *testing.T) {
	run(t, "test", "rules", "rules_test.yaml")
	// Every alert has a test.
	rules, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range alertNames(t, rules) {
		if !bytes.Contains(tests, []byte("alertname: "+name+"\n")) {
			t.Errorf("alert %s has no test in rules_test.yaml", name)
		}
	}
}

// header is what prometheusrule.yaml has before the groups of rules.yaml.
const header = `# Generated from rules.yaml by rules_test.go (UPDATE_GOLDEN=1 go test ./deploy/prometheus): edit rules.yaml.
# sailplan's alerts as a PrometheusRule, for the Prometheus Operator.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: sailplan
  namespace: sailplan-system
  labels:
    app.kubernetes.io/name: sailplan
spec:
`

// TestPrometheusRuleHoldsTheSameGroups: prometheusrule.yaml is rules.yaml's
// groups under a PrometheusRule's spec, line for line.
func TestPrometheusRuleHoldsTheSameGroups(t *testing.T) {
	rules, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(header)
	for line := range strings.Lines(string(rules)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	want := b.String()
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile("prometheusrule.yaml", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("prometheusrule.yaml is not rules.yaml's groups (UPDATE_GOLDEN=1 writes it) (-want +got):\n%s", diff)
	}
	// And it parses to the same groups.
	var plain, crd struct {
		Groups any `yaml:"groups"`
		Spec   struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(rules, &plain); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(got, &crd); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if diff := cmp.Diff(plain.Groups, crd.Spec.Groups); diff != "" || plain.Groups == nil {
		t.Errorf("groups of the PrometheusRule (-rules.yaml +prometheusrule.yaml):\n%s", diff)
	}
}

// alertNames are the alerts a rules file defines.
func alertNames(t *testing.T, rules []byte) []string {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("rules.yaml defines no alert")
	}
	return names
}
