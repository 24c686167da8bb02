package sync

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

// benchServices is the size of the benchmark fleet: 1,000 services, 2,000
// objects per cluster.
const benchServices = 1000

// BenchmarkApply compares, in one run against the three local clusters and
// on the same rendered objects, sailplan with `kubectl apply --server-side`
// run cluster after cluster: a first apply into empty namespaces, then a
// no-op apply of the same objects. It reports seconds per operation and
// the ratios (kubectl time / sailplan time), and the writes of sailplan's
// no-op reconcile as the apiservers counted them.
//
//	go test ./sync -run '^$' -bench BenchmarkApply -benchtime 1x -timeout 30m
func BenchmarkApply(b *testing.B) {
	if env == nil {
		b.Skip("-short: benchmark against real clusters skipped")
	}
	kubectl := os.Getenv("KUBECTL")
	if kubectl == "" {
		kubectl = "/usr/bin/kubectl"
	}
	if _, err := os.Stat(kubectl); err != nil {
		b.Fatalf("kubectl: %v (set KUBECTL, or run scripts/kubectl.sh)", err)
	}
	for range b.N {
		benchOnce(b, kubectl)
	}
}

func benchOnce(b *testing.B, kubectl string) {
	ctx := b.Context()
	nsKubectl, nsSailplan := env.Namespace(b), env.Namespace(b)
	all := map[string]int{"c1": 1, "c2": 1, "c3": 1}

	// kubectl: the objects rendered for each cluster, as YAML, applied
	// cluster after cluster, as a script would.
	files := schema.Files{"fleet.cue": []byte(fleetOf(all)), "svc.cue": []byte(servicesCUE(nsKubectl, benchServices, 10))}
	in, err := schema.Load(files)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var yamls []string
	for _, c := range env.Clusters {
		objs, err := render.Render(in, render.Options{Cluster: c.Name, Commit: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		data, err := render.Encode(objs, "yaml")
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, c.Name+".yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		yamls = append(yamls, path)
	}
	kubectlApply := func() time.Duration {
		t0 := time.Now()
		for i, c := range env.Clusters {
			cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", env.Kubeconfig, "--context", c.Name,
				"apply", "--server-side", "--field-manager", "bench-kubectl", "-f", yamls[i])
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl apply on %s: %v\n%s", c.Name, err, tail(out))
			}
		}
		return time.Since(t0)
	}

	srv := testenv.NewGitServer(b)
	repo := srv.NewRepo(b, "intents")
	repo.Commit(b, map[string]string{"fleet.cue": fleetOf(all), "svc.cue": servicesCUE(nsSailplan, benchServices, 10)}, "1000 services")
	// Wired as the daemon is, with the log at its default level.
	r := newReconcilerLog(b, repo.URL(), nsSailplan, slog.New(slog.DiscardHandler))
	sailplanSync := func() time.Duration {
		t0 := time.Now()
		if err := r.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}

	b.ResetTimer()
	kFirst := kubectlApply()
	sFirst := sailplanSync()
	kNoop := kubectlApply()
	before := 0
	for _, c := range env.Clusters {
		before += apiserverWrites(b, c)
	}
	sNoop := sailplanSync()
	after := 0
	for _, c := range env.Clusters {
		after += apiserverWrites(b, c)
	}
	b.StopTimer()

	for _, c := range env.Clusters {
		if n := len(labelledMembers(b, c, nsSailplan, applySetID(nsSailplan))); n != 2*benchServices {
			b.Fatalf("cluster %s: %d members after sailplan's apply, want %d", c.Name, n, 2*benchServices)
		}
	}
	b.ReportMetric(kFirst.Seconds(), "kubectl-first-s")
	b.ReportMetric(sFirst.Seconds(), "sailplan-first-s")
	b.ReportMetric(kFirst.Seconds()/sFirst.Seconds(), "first-speedup-x")
	b.ReportMetric(kNoop.Seconds(), "kubectl-noop-s")
	b.ReportMetric(sNoop.Seconds(), "sailplan-noop-s")
	b.ReportMetric(kNoop.Seconds()/sNoop.Seconds(), "noop-speedup-x")
	b.ReportMetric(float64(after-before), "sailplan-noop-writes")
	fmt.Fprintf(os.Stderr, "objects per cluster: %d; clusters: %d\n", 2*benchServices, len(env.Clusters))
}

func tail(out []byte) []byte {
	if len(out) > 2000 {
		return out[len(out)-2000:]
	}
	return out
}
