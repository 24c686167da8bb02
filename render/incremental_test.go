package render

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/schema"
)

// fullRender is what the Renderer must give: Render, then ToUnstructured.
func fullRender(t *testing.T, in *schema.Intents, opts Options) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	us, err := toUnstructured(objs)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func contents(objs []*unstructured.Unstructured, withoutCommit bool) []map[string]any {
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		out[i] = o.Object
		if withoutCommit {
			c := o.DeepCopy()
			ann := c.GetAnnotations()
			delete(ann, AnnotationCommit)
			c.SetAnnotations(ann)
			out[i] = c.Object
		}
	}
	return out
}

// TestRendererMatchesRender: on every golden input and example, for the
// fleet and for each cluster, with every canary half way, the Renderer
// gives exactly what Render gives, the first time and again from what it
// kept.
func TestRendererMatchesRender(t *testing.T) {
	for dir := range goldenInputs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			in := loadDir(t, dir)
			in.Intern(nil)
			canaries := map[string]CanaryState{}
			for name, svc := range in.Services {
				if svc.Canary != nil {
					canaries[name] = CanaryState{Candidate: svc.Canary.Candidate, Weight: 50}
				}
			}
			var r Renderer
			for round := range 2 {
				for _, cluster := range append([]string{""}, slices.Sorted(maps.Keys(in.Fleet.Clusters))...) {
					opts := Options{Cluster: cluster, Commit: goldenCommit, Canaries: canaries}
					got, err := r.Render(in, opts)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(contents(fullRender(t, in, opts), false), contents(got, false)); diff != "" {
						t.Errorf("round %d, cluster %q: Renderer differs from Render (-Render +Renderer):\n%s", round, cluster, diff)
					}
				}
				r.Forget()
			}
			if len(in.Services) > 0 && r.hits == 0 {
				t.Error("the second round rendered every service again")
			}
		})
	}
}

// TestRendererHistory walks a generated history of commits (a service
// edited, added or removed, a canary's weight moved, a gateway moved to
// another namespace, a service moved to another file, cluster overrides
// coming and going) and checks on every commit, for every cluster, that
// the Renderer gives what a full render gives but for the commit
// annotation; that an object given again has not changed; and that every
// object rendered anew carries the new commit.
func TestRendererHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	weights := map[string]int{}
	files := schema.Files{
		"fleet.cue":    []byte(historyFleet(false)),
		"gateways.cue": []byte(historyGateway("istio-system")),
	}
	for f := range 3 {
		var b strings.Builder
		b.WriteString("package intents\n")
		for i := range 5 {
			b.WriteString(historyService(f*5+i, rng.IntN(100)))
		}
		files[fmt.Sprintf("team-%d.cue", f)] = []byte(b.String())
	}
	var (
		r        Renderer
		prev     *schema.Intents
		prevObjs = map[string]map[string]*unstructured.Unstructured{} // by cluster, by Kind/namespace/name
		// given is every object given out for the previous commit and so
		// far for this one: what the Renderer may give again.
		given, givenNow = map[*unstructured.Unstructured]bool{}, map[*unstructured.Unstructured]bool{}
		ops             = map[string]int{}
	)
	for commit := range 40 {
		op := []string{"edit", "edit", "weight", "nothing", "add", "remove", "gateway", "move", "overrides"}[rng.IntN(9)]
		if commit == 0 {
			op = "first"
		}
		teams := slices.Sorted(maps.Keys(files))[1:]
		teams = slices.DeleteFunc(teams, func(n string) bool { return !strings.HasPrefix(n, "team-") })
		team := teams[rng.IntN(len(teams))]
		switch op {
		case "edit":
			src := string(files[team])
			i := strings.Index(src, "retries: attempts: ")
			if i >= 0 {
				j := i + len("retries: attempts: ")
				end := j + strings.IndexByte(src[j:], '\n')
				src = src[:j] + fmt.Sprint(1+rng.IntN(5)) + src[end:]
			}
			files[team] = []byte(src)
		case "weight":
			name := fmt.Sprintf("svc-%02d", rng.IntN(15))
			weights[name] = 10 * (1 + rng.IntN(9))
		case "add":
			files[team] = append(files[team], historyService(100+commit, 50)...)
		case "remove":
			src := string(files[team])
			if i := strings.LastIndex(src, "\nservices: "); i > len("package intents") {
				files[team] = []byte(src[:i+1])
			}
		case "gateway":
			ns := "istio-system"
			if strings.Contains(string(files["gateways.cue"]), ns) {
				ns = "ingress"
			}
			files["gateways.cue"] = []byte(historyGateway(ns))
		case "move":
			src := string(files[team])
			if i := strings.LastIndex(src, "\nservices: "); i > len("package intents") {
				files[team] = []byte(src[:i+1])
				if files["moved.cue"] == nil {
					files["moved.cue"] = []byte("package intents\n")
				}
				files["moved.cue"] = append(files["moved.cue"], src[i:]...)
			}
		case "overrides":
			files["fleet.cue"] = []byte(historyFleet(!strings.Contains(string(files["fleet.cue"]), "overrides")))
		}
		ops[op]++
		in, err := schema.Load(files)
		if err != nil {
			t.Fatalf("commit %d (%s): the generated history does not load: %v", commit, op, err)
		}
		in.Intern(prev)
		name := fmt.Sprintf("c%02d", commit)
		missesBefore := r.misses
		for _, cluster := range slices.Sorted(maps.Keys(in.Fleet.Clusters)) {
			canaries := map[string]CanaryState{}
			for svc, w := range weights {
				if s, ok := in.Services[svc]; ok && s.Canary != nil {
					canaries[svc] = CanaryState{Candidate: s.Canary.Candidate, Weight: w}
				}
			}
			opts := Options{Cluster: cluster, Commit: name, Canaries: canaries}
			got, err := r.Render(in, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := fullRender(t, in, opts)
			if diff := cmp.Diff(contents(want, true), contents(got, true)); diff != "" {
				t.Fatalf("commit %d (%s), cluster %s: Renderer differs from Render but for the commit (-Render +Renderer):\n%s", commit, op, cluster, diff)
			}
			objs := map[string]*unstructured.Unstructured{}
			for i, o := range got {
				id := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
				objs[id] = o
				old := prevObjs[cluster][id]
				sameContent := old != nil && cmp.Equal(contents(want[i:i+1], true), contents([]*unstructured.Unstructured{old}, true))
				commitOf := o.GetAnnotations()[AnnotationCommit]
				switch {
				case old == o && !sameContent:
					t.Errorf("commit %d (%s), cluster %s: %s is the previous commit's object, but its content changed", commit, op, cluster, id)
				case !given[o] && !givenNow[o] && commitOf != name:
					t.Errorf("commit %d (%s), cluster %s: %s was rendered again but carries commit %s, want %s", commit, op, cluster, id, commitOf, name)
				}
				givenNow[o] = true
			}
			prevObjs[cluster] = objs
		}
		if op == "nothing" && r.misses != missesBefore {
			t.Errorf("commit %d changed nothing, yet %d services were rendered again", commit, r.misses-missesBefore)
		}
		r.Forget()
		prev = in
		given, givenNow = givenNow, map[*unstructured.Unstructured]bool{}
	}
	for _, op := range []string{"edit", "weight", "nothing", "add", "remove", "gateway", "move", "overrides"} {
		if ops[op] == 0 {
			t.Errorf("the history has no %q commit: change the seed", op)
		}
	}
	if r.hits == 0 || r.misses == 0 {
		t.Errorf("%d services reused and %d rendered over the history; want both", r.hits, r.misses)
	}
}

func historyService(i, weight int) string {
	return fmt.Sprintf(`
services: "svc-%02d": {
	namespace: "team-%d"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	retries: attempts: 2
	timeout: *"10s" | string
	gateways: ["mesh", "edge"]
	canary: {stable: "v1", candidate: "v2", steps: [10, 50, 100], every: "1m"}
	routes: [{match: [{uri: prefix: "/%d"}], to: {v2: 100}}, {}]
	expose: [{gateway: "edge", hosts: ["svc-%02d.example.com"]}]
	_weight: %d
}
`, i, i%3, i, i, weight)
}

func historyGateway(ns string) string {
	return fmt.Sprintf(`package intents

gateways: edge: {
	namespace: %q
	selector: istio: "ingressgateway"
	https: {hosts: ["*.example.com"], credentialName: "edge-tls"}
}
`, ns)
}

func historyFleet(overrides bool) string {
	s := "package intents\n\nfleet: clusters: {c1: wave: 1, c2: wave: 2}\n"
	if overrides {
		s += "fleet: clusters: c2: overrides: services: [_]: timeout: \"20s\"\n"
	}
	return s
}
