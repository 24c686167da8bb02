package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/testenv"
)

// TestLeaderLabelsItsPod: the replica that leads, and only it, carries
// sailplan.dev/leader=true on its Pod; when it stops, its label goes to
// false before the next replica labels itself.
func TestLeaderLabelsItsPod(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	ctx := t.Context()
	admin := kubernetes.NewForConfigOrDie(env.Cluster("c1").RESTConfig())
	for _, name := range []string{"a", "b"} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LeaderLabel: "true"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sailplan", Image: "sailplan"}}}}
		if _, err := admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	labels := func() map[string]string {
		got := map[string]string{}
		for _, name := range []string{"a", "b"} {
			p, err := admin.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got[name] = p.Labels[LeaderLabel]
		}
		return got
	}
	waitLabels := func(what string, want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if cmp.Equal(want, labels()) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: labels (-want +got):\n%s", what, cmp.Diff(want, labels()))
	}
	type replica struct {
		stop  context.CancelFunc
		done  chan error
		leads chan bool
	}
	start := func(pod string) *replica {
		p := &promotionFlags{leaseContext: "c1", namespace: ns, lease: 2 * time.Second, pod: ns + "/" + pod}
		log := slog.New(slog.NewTextHandler(&testenv.LogBuffer{}, nil))
		e, err := p.election(ctx, env.Kubeconfig, nil, "sailplan", pod, log)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		r := &replica{stop: stop, done: make(chan error, 1), leads: make(chan bool, 1)}
		go func() {
			r.done <- e.run(rctx, func(ctx context.Context) {
				r.leads <- true
				<-ctx.Done()
			})
		}()
		return r
	}

	// Both Pods start labelled as a crashed run may have left them.
	a := start("a")
	<-a.leads
	waitLabels("a leads", map[string]string{"a": "true", "b": "true"})
	b := start("b")
	waitLabels("b stands by", map[string]string{"a": "true", "b": "false"})

	a.stop()
	if err := <-a.done; err != nil {
		t.Fatal(err)
	}
	if got := labels()["a"]; got != "false" {
		t.Errorf("a has stopped leading, its label is %q, want false", got)
	}
	<-b.leads
	waitLabels("b leads", map[string]string{"a": "false", "b": "true"})
	b.stop()
	<-b.done
	waitLabels("none leads", map[string]string{"a": "false", "b": "false"})
}

// TestLeaderPodMissing: a Pod that cannot be labelled is said once, with
// what to do, and the replica leads all the same.
func TestLeaderPodMissing(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	ctx := t.Context()
	var buf testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	p := &promotionFlags{leaseContext: "c1", namespace: ns, lease: 2 * time.Second, pod: ns + "/gone"}
	e, err := p.election(ctx, env.Kubeconfig, nil, "sailplan", "x", log)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	led := false
	err = e.run(rctx, func(context.Context) { led = true; stop() })
	if err != nil || !led {
		t.Fatalf("did not lead: led %t, %v", led, err)
	}
	want := `level=WARN msg="Pod/` + ns + `/gone: label sailplan.dev/leader=true not set: pods \"gone\" not found" hint="sailplan needs patch on pods in its namespace (deploy/rbac); until then webhooks and the page may reach a standby"`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("log lacks\n%s\ngot:\n%s", want, buf.String())
	}
}

func TestPodFlag(t *testing.T) {
	for _, pod := range []string{"a", "/a", "ns/", "ns/a/b"} {
		_, err := newPodLabeler(nil, pod, nil)
		want := `--pod "` + pod + `": give NAMESPACE/NAME, as the downward API's metadata.namespace and metadata.name`
		if err == nil || err.Error() != want {
			t.Errorf("--pod %q: got %v, want %s", pod, err, want)
		}
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
