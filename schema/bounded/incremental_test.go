package bounded

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/schema"
)

// TestEvaluatorMatchesEvaluate walks a generated history of commits
// (services edited, added and removed, team files added and removed, a
// template and a comprehension coming and going, fleet changes, cluster
// overrides, mistakes and their fixes, commits that change nothing) and
// checks on every commit that the Evaluator, which reuses what it
// evaluated before, gives exactly what a full evaluation gives, errors
// included; that a commit changing nothing costs no evaluation; and that
// a commit changing one file of a repository loadable file by file
// evaluates that file only.
func TestEvaluatorMatchesEvaluate(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	files := schema.Files{"fleet.cue": []byte(fleetFile(2, false))}
	next := 0
	addTeam := func() {
		var b strings.Builder
		b.WriteString("package intents\n")
		for range 4 {
			b.WriteString(serviceText(next, rng.IntN(100)))
			next++
		}
		files[fmt.Sprintf("team-%03d.cue", next)] = []byte(b.String())
	}
	for range 4 {
		addTeam()
	}
	teams := func() []string {
		var out []string
		for _, name := range slices.Sorted(maps.Keys(files)) {
			if strings.HasPrefix(name, "team-") {
				out = append(out, name)
			}
		}
		return out
	}

	var alone []string
	var good *schema.Intents // the last result without an error
	shared := 0              // services shared with the previous result
	e := &Evaluator{alone: func(f schema.Files) { alone = slices.Sorted(maps.Keys(f)) }}
	ops := map[string]int{}
	oneFile := 0 // commits checked to evaluate only the file they change
	for commit := range 60 {
		op := []string{"edit", "edit", "edit", "nothing", "add", "remove", "template", "comprehension", "fleet", "overrides", "mistake", "fix"}[rng.IntN(12)]
		if commit == 0 {
			op = "first"
		}
		before := maps.Clone(files)
		switch op {
		case "edit", "mistake":
			name := teams()[rng.IntN(len(teams()))]
			src := string(files[name])
			// One service's default route: {to: {v1: W, v2: 100-W}}.
			starts := []int{}
			for i := 0; ; {
				j := strings.Index(src[i:], "{to: {v1: ")
				if j < 0 {
					break
				}
				starts = append(starts, i+j)
				i += j + 1
			}
			i := starts[rng.IntN(len(starts))]
			end := i + strings.Index(src[i:], "}}") + 2
			w := rng.IntN(101)
			src = src[:i] + fmt.Sprintf("{to: {v1: %d, v2: %d}}", w, 100-w) + src[end:]
			if op == "mistake" {
				src = strings.Replace(src, "namespace:", "namespce:", 1)
			}
			files[name] = []byte(src)
		case "fix":
			for name, src := range files {
				files[name] = []byte(strings.ReplaceAll(string(src), "namespce:", "namespace:"))
			}
		case "add":
			addTeam()
		case "remove":
			if len(teams()) > 1 {
				delete(files, teams()[rng.IntN(len(teams()))])
			}
		case "template":
			if _, ok := files["template.cue"]; ok {
				delete(files, "template.cue")
			} else {
				files["template.cue"] = []byte("package intents\n\nservices: [_]: forceConflicts: *false | bool\n")
			}
		case "comprehension":
			if _, ok := files["listed.cue"]; ok {
				delete(files, "listed.cue")
			} else {
				files["listed.cue"] = []byte("package intents\n\n_listed: [\"listed-a\", \"listed-b\"]\nfor n in _listed {\n\tservices: (n): {versions: v1: labels: version: \"v1\", routes: [{to: v1: 100}]}\n}\n")
			}
		case "fleet":
			files["fleet.cue"] = []byte(fleetFile(1+rng.IntN(3), false))
		case "overrides":
			files["fleet.cue"] = []byte(fleetFile(2, !strings.Contains(string(files["fleet.cue"]), "overrides")))
		}
		ops[op]++
		alone = nil

		got, usage, gotErr := e.Evaluate(t.Context(), maps.Clone(files))
		want, _, wantErr := Evaluate(t.Context(), maps.Clone(files), Limits{})
		what := fmt.Sprintf("commit %d (%s)", commit, op)
		if wantErr != nil && !onlyMistakes(wantErr) {
			t.Fatalf("%s: the generated edit is invalid: %v", what, wantErr)
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("%s: error %v, want %v", what, gotErr, wantErr)
		}
		if wantErr == nil {
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(schema.Intents{})); diff != "" {
				t.Fatalf("%s: incremental differs from a full evaluation (-full +incremental):\n%s", what, diff)
			}
			// An unchanged service is the previous result's pointer,
			// however the commit was evaluated (render keeps its objects
			// by that pointer).
			if good != nil {
				for name, s := range got.Services {
					p, ok := good.Services[name]
					if ok && reflect.DeepEqual(p, s) && p != s {
						t.Errorf("%s: service %s is unchanged but not shared with the previous result", what, name)
					}
					if p == s {
						shared++
					}
				}
			}
			good = got
		}
		changed := changedFiles(before, files)
		switch {
		case len(changed) == 0 && commit > 0:
			if usage != (Usage{}) || alone != nil {
				t.Errorf("%s: no file changed, yet it evaluated (%+v, alone %v)", what, usage, alone)
			}
		case op == "edit" && wantErr == nil && !strings.Contains(string(files["fleet.cue"]), "overrides") &&
			files["template.cue"] == nil && files["listed.cue"] == nil && len(before) == len(files):
			oneFile++
			if !slices.Equal(alone, changed) {
				t.Errorf("%s: evaluated %v alone, want only the changed file %v", what, alone, changed)
			}
		}
	}
	if shared == 0 {
		t.Error("no service was ever shared between commits")
	}
	if oneFile < 3 {
		t.Errorf("%d commits checked to evaluate one file alone, want at least 3: change the seed", oneFile)
	}
	for _, op := range []string{"edit", "nothing", "add", "remove", "template", "comprehension", "fleet", "overrides", "mistake", "fix"} {
		if ops[op] == 0 {
			t.Errorf("the history has no %q commit: change the seed", op)
		}
	}
}

// onlyMistakes reports an error that lists only the mistakes the history
// makes on purpose: anything else is a bug of the generator.
func onlyMistakes(err error) bool {
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasSuffix(line, "errors in intents:") && !strings.Contains(line, "namespce") {
			return false
		}
	}
	return true
}

func changedFiles(before, after schema.Files) []string {
	var out []string
	for name, src := range after {
		if string(before[name]) != string(src) {
			out = append(out, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func serviceText(i, weight int) string {
	return fmt.Sprintf(`
services: "svc-%03d": {
	namespace: "team-%d"
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: *"10s" | string
	routes: [{match: [{uri: prefix: "/%d"}], to: {v2: 100}}, {to: {v1: %d, v2: %d}}]
}
`, i, i%3, i, weight, 100-weight)
}

func fleetFile(clusters int, overrides bool) string {
	var b strings.Builder
	b.WriteString("package intents\n\nfleet: clusters: {\n")
	for c := range clusters {
		fmt.Fprintf(&b, "\tc%d: wave: %d\n", c+1, c+1)
	}
	b.WriteString("}\n")
	if overrides {
		b.WriteString("fleet: clusters: c1: overrides: services: [_]: timeout: \"20s\"\n")
	}
	return b.String()
}
