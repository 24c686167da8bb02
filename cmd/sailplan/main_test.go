package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// The tests run this test binary as the sailplan command, so that exit
// codes and the split between stdout and stderr are checked for real.
const asCommand = "SAILPLAN_TEST_AS_COMMAND"

// env is two real clusters (contexts c1 and c2) for the commands that
// talk to clusters.
var env *testenv.Env

func TestMain(m *testing.M) {
	if os.Getenv(asCommand) == "1" {
		main()
		return
	}
	// A test machine that is itself a Pod must not make every daemon the
	// tests start label it (--pod's default).
	os.Unsetenv("POD_NAME")
	os.Unsetenv("POD_NAMESPACE")
	testenv.Main(m, 2, &env)
}

// sailplan runs the command with args and returns stdout, stderr and the
// exit code.
func sailplan(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return sailplanIn(t, "", args...)
}

// sailplanIn is sailplan run in the working directory dir ("" for the
// test's).
func sailplanIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), asCommand+"=1")
	if env != nil {
		cmd.Env = append(cmd.Env, "KUBECONFIG="+env.Kubeconfig)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestValidate(t *testing.T) {
	out, stderr, code := sailplan(t, "validate", "../../examples/quickstart")
	if code != 0 || !strings.Contains(out, "valid: 1 services, 2 clusters") {
		t.Errorf("validate quickstart: exit %d, stdout %q, stderr %q; want exit 0 and a summary", code, out, stderr)
	}

	dir := t.TempDir()
	bad := "package intents\n\nservices: reviews: {\n\tnamespce: \"shop\"\n\tversions: v1: labels: version: \"v1\"\n\troutes: [{to: {v1: 90}}]\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "reviews.cue"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = sailplan(t, "validate", dir)
	want := `sailplan: reviews.cue:4:2: services.reviews.namespce: field not allowed (hint: did you mean "namespace"?)` + "\n"
	if code != 1 || out != "" || stderr != want {
		t.Errorf("validate with a typo: exit %d, stdout %q, stderr\n%s\nwant exit 1, nothing on stdout and stderr\n%s", code, out, stderr, want)
	}
}

func TestRender(t *testing.T) {
	out, stderr, code := sailplan(t, "render", "../../examples/fleet", "--cluster", "us-1", "-o", "json", "--commit", "abc1234")
	if code != 0 {
		t.Fatalf("render: exit %d: %s", code, stderr)
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec struct {
				HTTP []struct {
					Timeout string `json:"timeout"`
				} `json:"http"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("render -o json printed no JSON: %v\n%s", err, out)
	}
	if list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("got a %s of %d items, want a List of 2", list.Kind, len(list.Items))
	}
	vs := list.Items[1]
	if vs.Kind != "VirtualService" || vs.Spec.HTTP[0].Timeout != "20s" || vs.Metadata.Annotations["sailplan.dev/commit"] != "abc1234" {
		t.Errorf("us-1's VirtualService: kind %s, timeout %q, commit %q; want the override's 20s and commit abc1234", vs.Kind, vs.Spec.HTTP[0].Timeout, vs.Metadata.Annotations["sailplan.dev/commit"])
	}

	_, stderr, code = sailplan(t, "render", "../../examples/fleet", "--cluster", "mars-1")
	if code == 0 || !strings.Contains(stderr, `cluster "mars-1" is not in the fleet`) {
		t.Errorf("render for an unknown cluster: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = sailplan(t, "render", "../../examples/fleet", "-o", "toml")
	if code == 0 || !strings.Contains(stderr, `output format "toml": want yaml or json`) {
		t.Errorf("render -o toml: exit %d, stderr %q", code, stderr)
	}

	// --cluster evaluates that cluster's view alone: another cluster's
	// mistake is validate's to report, and its own is reported as
	// validate reports it.
	dir := t.TempDir()
	src := `package intents
fleet: clusters: {
	a: overrides: services: reviews: timeout: "20s"
	b: overrides: services: reviews: timout: "20s"
}
services: reviews: {
	versions: v1: labels: version: "v1"
	timeout: *"10s" | string
	routes: [{to: v1: 100}]
}
`
	if err := os.WriteFile(filepath.Join(dir, "reviews.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = sailplan(t, "render", dir, "--cluster", "a")
	if code != 0 || !strings.Contains(out, "timeout: 20s") {
		t.Errorf("render --cluster a, with a mistake in b's overrides: exit %d, stderr %q, stdout\n%s\nwant a's objects with its 20s", code, stderr, out)
	}
	want := `reviews.cue:4:35: services.reviews.timout: cluster b: field not allowed (hint: did you mean "timeout"?)`
	for _, args := range [][]string{{"render", dir, "--cluster", "b"}, {"validate", dir}} {
		_, stderr, code = sailplan(t, args...)
		if code != 1 || stderr != "sailplan: "+want+"\n" {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", args, code, stderr, want)
		}
	}
}
