package render

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/testenv"
)

// writeRepo writes an intent repository of n services, each with two
// versions, a header route, a canary plan and a resilience policy, in
// files of 100 services, as a large team's repository would be.
func writeRepo(tb testing.TB, dir string, n int) {
	tb.Helper()
	fleet := "package intents\n\nfleet: clusters: {\n\tc1: wave: 1\n\tc2: wave: 2\n\tc3: wave: 2\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(fleet), 0o644); err != nil {
		tb.Fatal(err)
	}
	for f := 0; f*100 < n; f++ {
		var b strings.Builder
		b.WriteString("package intents\n")
		for i := f * 100; i < n && i < (f+1)*100; i++ {
			fmt.Fprintf(&b, `
services: "svc-%04d": {
	namespace: "team-%02d"
	versions: {
		v1: labels: {app: "svc-%04d", version: "v1"}
		v2: labels: {app: "svc-%04d", version: "v2"}
	}
	timeout: "10s"
	retries: {attempts: 2, perTryTimeout: "3s", retryOn: ["5xx", "reset", "connect-failure"]}
	policy: {
		connectionPool: {tcp: maxConnections: 100, http: {http1MaxPendingRequests: 50, maxRequestsPerConnection: 10}}
		outlierDetection: {consecutive5xxErrors: 5, interval: "30s", baseEjectionTime: "30s", maxEjectionPercent: 50}
		loadBalancer: simple: "LEAST_REQUEST"
	}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{match: [{uri: prefix: "/api/%d"}], to: {v1: 80, v2: 20}},
		{},
	]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [5, 10, 25, 50, 100]
		window: "* 9-17 * * 1-5"
		analysis: {successRate: 99.9, latencyP99: "100ms", minRequests: 200}
	}
}
`, i, i%20, i, i, i)
		}
		name := filepath.Join(dir, fmt.Sprintf("services-%02d.cue", f))
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLoadRender1000 loads, validates, renders and encodes a
// repository of 1,000 services in process.
func BenchmarkLoadRender1000(b *testing.B) {
	benchLoadRender(b, func(dir string) { writeRepo(b, dir, 1000) }, schemaLoad)
}

func schemaLoad(files schema.Files) (*schema.Intents, error) { return schema.Load(files) }

// BenchmarkBoundedLoadRender1000 is BenchmarkLoadRender1000 with the
// evaluation in a child process under the default limits, as the CLI and
// the daemon load: the difference is the cost of the pipe.
func BenchmarkBoundedLoadRender1000(b *testing.B) {
	benchLoadRender(b, func(dir string) { writeRepo(b, dir, 1000) }, func(files schema.Files) (*schema.Intents, error) {
		return bounded.Load(b.Context(), files, bounded.Limits{})
	})
}

func benchLoadRender(b *testing.B, write func(dir string), load func(schema.Files) (*schema.Intents, error)) {
	dir := b.TempDir()
	write(dir)
	files, err := schema.ReadDir(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		in, err := load(files)
		if err != nil {
			b.Fatal(err)
		}
		objs, err := Render(in, Options{Cluster: "c1", Commit: goldenCommit})
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != 2000 {
			b.Fatalf("rendered %d objects, want 2000", len(objs))
		}
		if _, err := Encode(objs, "yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCLI1000 runs `sailplan render` and, side by side as the
// baseline, `cue export` of the same repository, both as processes, and
// reports each one's peak resident memory. sailplan does more than cue
// export: it unifies with the schema, validates, and renders Istio objects.
// The repository is written three ways: every service in full (literal),
// one template and team files listing names (templated), and the same
// with cluster overrides (overrides). With SAILPLAN_BASELINE set to
// another sailplan binary, that one runs too, in the same loop, for
// ratios between two versions on a noisy machine.
func BenchmarkCLI1000(b *testing.B) {
	bin := b.TempDir()
	sailplan := filepath.Join(bin, "sailplan")
	if out, err := exec.Command("go", "build", "-o", sailplan, "../cmd/sailplan").CombinedOutput(); err != nil {
		b.Fatalf("building sailplan: %v\n%s", err, out)
	}
	cue, err := cueBinary(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(timeCmd); err != nil {
		b.Fatalf("%s: %v (install Debian's time package; make deps does)", timeCmd, err)
	}
	baseline := os.Getenv("SAILPLAN_BASELINE")
	for _, shape := range []struct {
		name  string
		write func(dir string)
	}{
		{"literal", func(dir string) { writeRepo(b, dir, 1000) }},
		{"templated", func(dir string) { writeTemplatedRepo(b, dir, 1000, false) }},
		{"overrides", func(dir string) { writeTemplatedRepo(b, dir, 1000, true) }},
	} {
		dir := b.TempDir()
		shape.write(dir)
		type run struct {
			name string
			dir  string
			argv []string
		}
		runs := []run{
			{"sailplan-render", dir, []string{sailplan, "render", dir, "--cluster", "c1"}},
			{"cue-export", dir, []string{cue, "export", "--out", "yaml", "."}},
		}
		if baseline != "" {
			runs = append(runs, run{"baseline-render", dir, []string{baseline, "render", dir, "--cluster", "c1"}})
		}
		if shape.name == "literal" {
			withSchema := b.TempDir()
			shape.write(withSchema)
			addSchema(b, withSchema)
			runs = append(runs, run{"cue-export-with-schema", withSchema, []string{cue, "export", "--out", "yaml", "-e", "checked", "."}})
		}
		b.Run(shape.name, func(b *testing.B) {
			// One loop runs every command once, so that the machine's
			// load falls on all of them alike; each is timed alone.
			took := make([][]time.Duration, len(runs))
			peak := make([]int64, len(runs))
			for b.Loop() {
				for i, r := range runs {
					d, kib := timed(b, r.name, r.dir, r.argv)
					took[i] = append(took[i], d)
					peak[i] = max(peak[i], kib)
				}
			}
			for i, r := range runs {
				b.ReportMetric(median(took[i]).Seconds(), r.name+"-s")
				b.ReportMetric(float64(peak[i])/1024, r.name+"-peak-MiB")
				if i > 0 {
					ratio := make([]float64, len(took[0]))
					for j := range ratio {
						ratio[j] = float64(took[0][j]) / float64(took[i][j])
					}
					slices.Sort(ratio)
					b.ReportMetric(ratio[len(ratio)/2], "sailplan/"+r.name+"-x")
				}
			}
		})
	}
}

// timed runs a command under GNU time and returns its wall time and peak
// resident memory in KiB. GNU time reports the command's own peak (with
// its children's): the rusage of a child of this process would count the
// pages it inherited from the benchmark at fork.
func timed(b *testing.B, name, dir string, argv []string) (time.Duration, int64) {
	cmd := exec.Command(timeCmd, append([]string{"-f", "%M"}, argv...)...)
	cmd.Dir = dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	d := time.Since(start)
	if out.Len() == 0 {
		b.Fatalf("%s printed nothing", name)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		b.Fatalf("%s: peak memory from %s: %v", name, timeCmd, err)
	}
	return d, kib
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// addSchema copies sailplan's schema into a generated repository and
// unifies the intents with #Intents in a field, so that cue export does
// the same evaluation as sailplan's loader: a baseline without sailplan's
// semantic checks, rendering and encoding.
func addSchema(tb testing.TB, dir string) {
	tb.Helper()
	files, err := filepath.Glob("../schema/*.cue")
	if err != nil || len(files) == 0 {
		tb.Fatalf("schema files: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		src = bytes.Replace(src, []byte("package sailplan"), []byte("package intents"), 1)
		if err := os.WriteFile(filepath.Join(dir, "schema-"+filepath.Base(f)), src, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	check := "package intents\n\nlet F = fleet\nlet S = services\nchecked: #Intents & {fleet: F, services: S}\n"
	if err := os.WriteFile(filepath.Join(dir, "zz-check.cue"), []byte(check), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// timeCmd is GNU time, which measures a command's peak memory.
const timeCmd = "/usr/bin/time"

// cueBinary installs the cue command of the version in go.mod into the
// cache, once.
func cueBinary(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "cuelang.org/go").Output()
	if err != nil {
		return "", fmt.Errorf("finding the cue version: %w", err)
	}
	version := strings.TrimSpace(string(out))
	cache, err := testenv.CacheDir()
	if err != nil {
		return "", err
	}
	gobin := filepath.Join(cache, "bin", "cue-"+version)
	path := filepath.Join(gobin, "cue")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", "cuelang.org/go/cmd/cue@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing cue %s: %w\n%s", version, err, out)
	}
	return path, nil
}
