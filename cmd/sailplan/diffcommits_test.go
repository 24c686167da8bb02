package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/testenv"
	"github.com/sailplan/sailplan/testenv/golden"
)

// The intents of the pull-request repository, under intents/ as in a
// repository that holds other things too: two clusters, reviews split
// 90/10, ratings on v1, and the mesh's security.
const (
	prRatings = `package intents

services: ratings: {
	namespace: "shop"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{to: v1: 100}]
}
`
	prMesh = `package intents

mtls: default: {
	namespace: "istio-system"
	mode:      "STRICT"
}

authorization: "reviews-callers": {
	namespace: "shop"
	selector: app: "reviews"
	action: "ALLOW"
	rules: [{
		from: [{principals: ["cluster.local/ns/shop/sa/productpage"]}]
		to: [{methods: ["GET"], paths: ["/reviews/*"]}]
	}]
}

jwt: "api-auth": {
	namespace: "istio-system"
	selector: istio: "ingressgateway"
	issuers: [{
		issuer:  "https://auth.example.com"
		jwksUri: "https://auth.example.com/.well-known/jwks.json"
		audiences: ["api.example.com"]
	}]
	require: paths: ["/api/*"]
}
`
)

// prRepo is a repository on the test Git server whose history holds one
// commit per kind of pull request; commits[name] is the commit that makes
// that change, on top of the one before.
type prRepo struct {
	repo    *testenv.Repo
	order   []string
	commits map[string]string
}

func newPRRepo(t *testing.T) *prRepo {
	t.Helper()
	r := &prRepo{repo: testenv.NewGitServer(t).NewRepo(t, "intents"), commits: map[string]string{}}
	for _, c := range []struct {
		name  string
		files map[string]string
	}{
		{"base", map[string]string{
			"README.md":           "The shop's traffic intents.\n",
			"intents/fleet.cue":   testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2}),
			"intents/reviews.cue": testenv.ReviewsCUE("shop", 90, 10),
			"intents/ratings.cue": prRatings,
			"intents/mesh.cue":    prMesh,
		}},
		// (a) a weight changes.
		{"weight", map[string]string{"intents/reviews.cue": testenv.ReviewsCUE("shop", 50, 50)}},
		// (b) a canary plan starts.
		{"canary", map[string]string{"intents/ratings.cue": testenv.CanaryCUE("shop", "ratings", "")}},
		// (c) a routing change in the same commit as a looser
		// AuthorizationPolicy and mTLS PERMISSIVE: security comes first.
		{"security", map[string]string{
			"intents/reviews.cue": testenv.ReviewsCUE("shop", 40, 60),
			"intents/mesh.cue": strings.NewReplacer(
				`mode:      "STRICT"`, `mode:      "PERMISSIVE"`,
				`principals: ["cluster.local/ns/shop/sa/productpage"]`, `principals: ["cluster.local/ns/shop/sa/productpage", "cluster.local/ns/shop/sa/debug"]`,
			).Replace(prMesh),
		}},
		// (d) a service is removed, and its canary plan with it.
		{"remove", map[string]string{"intents/ratings.cue": ""}},
		// (f) a comment: the intents render the same objects.
		{"comment", map[string]string{"intents/reviews.cue": strings.Replace(testenv.ReviewsCUE("shop", 40, 60), "package intents\n", "package intents\n\n// Owned by the reviews team.\n", 1)}},
		// (e) a typo in one file and an mTLS mode that is no mode in
		// another: the head is invalid.
		{"invalid", map[string]string{
			"intents/reviews.cue": strings.Replace(testenv.ReviewsCUE("shop", 40, 60), "namespace:", "namespce:", 1),
			"intents/mesh.cue":    strings.Replace(prMesh, `mode:      "STRICT"`, `mode:      "PERMISIVE"`, 1),
		}},
	} {
		r.commits[c.name] = r.repo.Commit(t, c.files, c.name)
		r.order = append(r.order, c.name)
	}
	return r
}

// normalize puts names in place of what changes from run to run: the
// commits' hashes and the server's address.
func (r *prRepo) normalize(s string) string {
	for _, name := range r.order {
		c := r.commits[name]
		s = strings.ReplaceAll(s, c, "<"+name+">")
		s = strings.ReplaceAll(s, c[:7], "<"+name+">")
	}
	return strings.ReplaceAll(s, r.repo.URL(), "<repo>")
}

// TestDiffCommits runs `sailplan diff --base --head` on each pull request
// of a real repository served over HTTP, and compares its Markdown and
// its unified diff with the checked-in ones, its exit code with the
// documented one and its stderr with what a CI log should say.
func TestDiffCommits(t *testing.T) {
	r := newPRRepo(t)
	for _, c := range []struct {
		name, base, head string
		code             int
		stderr           string
	}{
		{"weight", "base", "weight", 1, ""},
		{"canary", "weight", "canary", 1, ""},
		{"security", "canary", "security", 1, ""},
		{"remove", "security", "remove", 1, ""},
		{"comment", "remove", "comment", 0, ""},
		{"invalid", "comment", "invalid", 2, "sailplan: head <invalid> does not validate, so sailplan would apply nothing of it:\n" +
			"intents/mesh.cue:5:13: mtls.default.mode: \"PERMISIVE\" is not allowed here; want one of \"DISABLE\", \"PERMISSIVE\", \"STRICT\", \"UNSET\" (hint: did you mean \"PERMISSIVE\"?)\n" +
			"intents/reviews.cue:4:2: services.reviews.namespce: field not allowed (hint: did you mean \"namespace\"?)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, format := range []struct{ output, ext string }{{"markdown", ".md"}, {"diff", ".diff"}} {
				out, stderr, code := sailplan(t, "diff", "--repo", r.repo.URL(), "--path", "intents",
					"--base", r.commits[c.base], "--head", r.commits[c.head], "-o", format.output)
				if code != c.code || r.normalize(stderr) != c.stderr {
					t.Errorf("-o %s: exit %d, stderr\n%s\nwant exit %d, stderr\n%s", format.output, code, r.normalize(stderr), c.code, c.stderr)
				}
				golden.File(t, filepath.Join("testdata", "diff", c.name+format.ext), []byte(r.normalize(out)))
			}
		})
	}
}

// TestDiffCommitsInClone: in a CI job's clone, revisions are named as a
// developer names them (branches, HEAD~N, abbreviated hashes), --repo
// defaults to the working directory, and -o json says the same as the
// Markdown for a script.
func TestDiffCommitsInClone(t *testing.T) {
	r := newPRRepo(t)
	clone := filepath.Join(r.repo.Dir, "intents") // a directory inside the clone, as a job's working directory may be
	cmd := func(args ...string) (string, string, int) {
		t.Helper()
		return sailplanIn(t, clone, append([]string{"diff", "--path", "intents"}, args...)...)
	}

	// HEAD~2 is "remove", HEAD~1 "comment": no change.
	out, stderr, code := cmd("--base", "HEAD~2", "--head", "main~1")
	if code != 0 || stderr != "" || out != "" {
		t.Errorf("diff of a comment: exit %d, stdout %q, stderr %q; want exit 0 and nothing", code, out, stderr)
	}

	out, stderr, code = cmd("--base", r.commits["base"][:8], "--head", r.commits["weight"][:8], "-o", "json")
	var rep struct {
		Base, Head string
		Clusters   []struct {
			Name    string
			Objects []struct {
				Object string
				Action string
				Notes  []struct{ Topic, Subject, Text string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("diff -o json: exit %d, %v, stderr %q:\n%s", code, err, stderr, out)
	}
	got := []string{rep.Base, rep.Head}
	for _, c := range rep.Clusters {
		for _, o := range c.Objects {
			for _, n := range o.Notes {
				got = append(got, fmt.Sprintf("%s %s %s: %s %s: %s", c.Name, o.Action, o.Object, n.Topic, n.Subject, n.Text))
			}
		}
	}
	want := []string{
		r.commits["base"], r.commits["weight"],
		"c1 changed VirtualService/shop/reviews: routing **reviews** (VirtualService `shop/reviews`): default route: v1 `90%` → `50%`, v2 `10%` → `50%`",
		"c2 changed VirtualService/shop/reviews: routing **reviews** (VirtualService `shop/reviews`): default route: v1 `90%` → `50%`, v2 `10%` → `50%`",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diff -o json (-want +got):\n%s", d)
	}

	// One cluster only.
	out, _, code = cmd("--base", "main~5", "--head", "main~4", "--cluster", "c2")
	if code != 1 || strings.Contains(out, "c1") || !strings.HasPrefix(out, "# cluster c2 (wave 2)\n") {
		t.Errorf("diff --cluster c2: exit %d:\n%s\nwant exit 1 and c2 only", code, out)
	}

	for _, bad := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--base", "nope", "--head", "main"}, `sailplan: git .: revision "nope": reference not found` + "\n"},
		{[]string{"--base", "main"}, "sailplan: --base and --head go together: give the two revisions to compare, such as --base origin/main --head HEAD\n"},
		{[]string{"--base", "main~1", "--head", "main", "-o", "html"}, `sailplan: --output "html": want diff, markdown or json` + "\n"},
		{[]string{"--base", "main~2", "--head", "main~1", "--cluster", "mars"}, fmt.Sprintf("sailplan: %s..%s: cluster \"mars\" is in neither commit's fleet (hint: its clusters are c1, c2)\n", r.commits["remove"][:7], r.commits["comment"][:7])},
		{[]string{"--base", "main", "--head", "main~1", "--path", "prod"}, fmt.Sprintf("sailplan: head main~1 (%s) does not validate, so sailplan would apply nothing of it:\ngit .: main~1 (%[1]s): path \"prod\" does not exist in the repository\n", r.commits["comment"][:7])},
		{[]string{"--base", "main~1", "--head", "main", "--context", "c1"}, "sailplan: diff --base/--head compares commits of --repo: it takes no DIR and no --context (--live compares the head with every cluster of its fleet)\n"},
	} {
		out, stderr, code := cmd(bad.args...)
		if code != 2 || out != "" || stderr != bad.stderr {
			t.Errorf("diff %s: exit %d, stdout %q, stderr\n%s\nwant exit 2, nothing on stdout and stderr\n%s", strings.Join(bad.args, " "), code, out, stderr, bad.stderr)
		}
	}
}

// TestDiffCommitsLive: with --live, the head is also compared with what
// the real clusters hold now, through their kubeconfig contexts: a cluster
// that holds the base shows the head's change, a cluster without a
// context is reported and makes the exit 2.
func TestDiffCommitsLive(t *testing.T) {
	env.Need(t)
	ns := env.Namespace(t)
	applyset := "--applyset-name=" + ns // this test's objects only
	files := map[string]string{
		"fleet.cue":   testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2}),
		"reviews.cue": testenv.ReviewsCUE(ns, 90, 10),
	}
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo := testenv.NewGitServer(t).NewRepo(t, "live")
	base := repo.Commit(t, files, "base")
	if out, stderr, code := sailplan(t, "apply", dir, "--commit", base, applyset); code != 0 {
		t.Fatalf("apply the base: exit %d\n%s%s", code, out, stderr)
	}
	head := repo.Commit(t, map[string]string{"reviews.cue": testenv.ReviewsCUE(ns, 50, 50)}, "head")

	out, stderr, code := sailplan(t, "diff", "--repo", repo.URL(), "--base", base, "--head", head, "--live", applyset)
	if code != 1 || stderr != "" {
		t.Fatalf("diff --live: exit %d, stderr %q; want exit 1", code, stderr)
	}
	for _, cluster := range []string{"c1", "c2"} {
		want := "# cluster " + cluster + " now: applying the head would change 1 object\n# VirtualService/" + ns + "/reviews configured\n"
		i := strings.Index(out, want)
		if i < 0 || !strings.Contains(out[i:], "-      weight: 90\n+      weight: 50\n") {
			t.Errorf("diff --live: want %q followed by the weight's change, got\n%s", want, out)
		}
	}
	md, _, _ := sailplan(t, "diff", "--repo", repo.URL(), "--base", base, "--head", head, "--live", applyset, "-o", "markdown")
	if !strings.Contains(md, "#### Against the clusters now\n") || !strings.Contains(md, "| c1 | 0 | 1 | 0 |\n| c2 | 0 | 1 | 0 |\n") {
		t.Errorf("diff --live -o markdown: want the live table with one object configured in each cluster:\n%s", md)
	}

	// A cluster the kubeconfig does not know.
	mars := repo.Commit(t, map[string]string{"fleet.cue": testenv.FleetCUE(map[string]int{"c1": 1, "c2": 2, "mars": 3})}, "mars")
	out, stderr, code = sailplan(t, "diff", "--repo", repo.URL(), "--base", head, "--head", mars, "--live", applyset)
	if code != 2 || stderr != "sailplan: 1 of 3 clusters could not be compared with the head (see the output)\n" || !strings.Contains(out, "# cluster mars now: not compared: context mars: ") {
		t.Errorf("diff --live with a cluster without a context: exit %d, stderr %q, stdout\n%s", code, stderr, out)
	}
}
