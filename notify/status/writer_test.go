package status

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(s int) notify.At { return notify.At{Time: t0.Add(time.Duration(s) * time.Second)} }

// fleet is a model on a bus, with a writer keeping its status in c1 and c2.
type fleet struct {
	bus    *notify.Bus
	model  *notify.Model
	writer *Writer
	place  *Place
}

func newFleet(t *testing.T, ns string) *fleet {
	t.Helper()
	bus, model := notify.NewBus(), notify.NewModel()
	place := &Place{Kubeconfig: env.Kubeconfig, Namespace: ns, Name: NamePlace("sailplan"), Timeout: 2 * time.Second}
	w := &Writer{Place: place, Model: model, By: "test"}
	bus.Subscribe(model)
	bus.Subscribe(w)
	return &fleet{bus: bus, model: model, writer: w, place: place}
}

// applied publishes commit a applied to c1 and c2.
func (f *fleet) applied() {
	a := notify.Commit{Hash: strings.Repeat("a", 40), Author: "alice", Message: "reviews 90/10"}
	in := &schema.Intents{Fleet: schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}, "c2": {Wave: 2}}}}
	for _, e := range []notify.Event{
		notify.CommitSeen{At: at(0), Commit: a},
		notify.CommitApplying{At: at(1), Commit: a, Intents: in},
		notify.ClusterSynced{At: at(2), Cluster: "c1", Wave: 1, Commit: a.Hash, Counts: notify.Counts{Created: 2}},
		notify.ClusterSynced{At: at(3), Cluster: "c2", Wave: 2, Commit: a.Hash, Counts: notify.Counts{Created: 2}},
		notify.CommitApplied{At: at(3), Commit: a},
	} {
		f.bus.Publish(e)
	}
}

func versionIn(t *testing.T, cluster, ns string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Cluster(cluster).RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "sailplan-status", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("cluster %s: %v", cluster, err)
	}
	return cm.ResourceVersion
}

// TestStatusKeptInEveryCluster: the status is written to every cluster of
// the fleet, reads back equal, is not written again while it does not
// change, and a new writer starts from it.
func TestStatusKeptInEveryCluster(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	f := newFleet(t, ns)
	f.applied()
	if next := f.writer.Write(ctx); next != 0 {
		t.Fatalf("Write asks to retry in %s: a write failed", next)
	}
	want, _ := f.model.Status()
	copies := f.place.Read(ctx, []string{"c1", "c2"})
	for _, c := range copies {
		if c.Err != nil || !c.Found {
			t.Fatalf("cluster %s: found %v, %v", c.Cluster, c.Found, c.Err)
		}
		if diff := cmp.Diff(want, c.Record.Status); diff != "" {
			t.Errorf("cluster %s: status read back (-want +got):\n%s", c.Cluster, diff)
		}
		if c.Record.WrittenBy != "test" {
			t.Errorf("cluster %s: written by %q", c.Cluster, c.Record.WrittenBy)
		}
	}

	// Nothing changed: nothing is written.
	v1, v2 := versionIn(t, "c1", ns), versionIn(t, "c2", ns)
	f.bus.Publish(notify.ClusterSynced{At: at(30), Cluster: "c1", Wave: 1, Commit: strings.Repeat("a", 40), Counts: notify.Counts{Unchanged: 2}})
	f.writer.Write(ctx)
	if v1 != versionIn(t, "c1", ns) || v2 != versionIn(t, "c2", ns) {
		t.Error("a status that did not change was written again")
	}

	// A restarted daemon starts from what the clusters hold.
	g := newFleet(t, ns)
	g.writer.Restore(ctx, []string{"c1", "c2"})
	got, _ := g.model.Status()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restored status (-want +got):\n%s", diff)
	}
	// ... and overwrites it when it changes, even though it did not write it.
	g.bus.Publish(notify.SourceFailed{At: at(40), Source: "git http://git/intents", Err: "repository not found"})
	if next := g.writer.Write(ctx); next != 0 {
		t.Fatalf("Write after a restart asks to retry in %s", next)
	}
	newest, ok := Newest(g.place.Read(ctx, []string{"c1", "c2"}))
	if !ok || newest.Record.Status.Source.Error != "repository not found" {
		t.Errorf("newest copy after the restart = %+v", newest.Record.Status.Source)
	}
}

// hung is a kubeconfig with the env's contexts and one more, "hung", whose
// server accepts connections and never answers.
func hung(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	t.Cleanup(func() { ln.Close() })
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c1 := cfg.Contexts["c1"]
	cluster := *cfg.Clusters[c1.Cluster]
	cluster.Server = "https://" + ln.Addr().String()
	cfg.Clusters["hung"] = &cluster
	ctx := *c1
	ctx.Cluster = "hung"
	cfg.Contexts["hung"] = &ctx
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnansweredClusters: a cluster whose apiserver is down, and one that
// accepts connections but never answers, cost a reader no more than its
// timeout, and say so; the copies of the others are read; the writer
// goes on writing the others and retries the missing ones.
func TestUnansweredClusters(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	kubeconfig := hung(t)
	f := newFleet(t, ns)
	f.place.Kubeconfig = kubeconfig
	f.place.Timeout = time.Second
	f.writer.Extra = []string{"hung"}
	f.applied()
	if next := f.writer.Write(ctx); next == 0 {
		t.Error("Write did not ask to retry the cluster that does not answer")
	}

	env.Cluster("c2").Down(t)
	start := time.Now()
	copies := f.place.Read(ctx, []string{"c1", "c2", "hung"})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("reading three clusters, two of them not answering, took %s; want about the 1s timeout", took)
	}
	got := map[string]string{}
	for _, c := range copies {
		switch {
		case c.Found:
			got[c.Cluster] = "found"
		case c.Err != nil:
			got[c.Cluster] = fmt.Sprint(c.Err)
		}
	}
	if got["c1"] != "found" {
		t.Errorf("c1: %s, want its copy", got["c1"])
	}
	for _, name := range []string{"c2", "hung"} {
		if !strings.HasPrefix(got[name], "cluster "+name+": ConfigMap/"+ns+"/sailplan-status: ") {
			t.Errorf("%s: %q, want an error naming the cluster and the ConfigMap", name, got[name])
		}
	}
}
