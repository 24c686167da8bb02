package schema

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sailplan/sailplan/testenv/golden"
)

// TestDefaultsFile shows what the defaults file, derived from the schema,
// holds: every default of the schema, with its kind, where it applies. A new default in
// the schema shows here (UPDATE_GOLDEN=1 writes the file).
func TestDefaultsFile(t *testing.T) {
	body, err := defaultsBody()
	if err != nil {
		t.Fatal(err)
	}
	got := []byte(body)
	golden.File(t, filepath.Join("testdata", "defaults.golden.cue"), got)
	// Every default the schema's files write is in it: the count of
	// defaults in the schema's source is the count of *VALUE | KIND.
	inSchema := 0
	entries, _ := schemaFS.ReadDir(".")
	for _, e := range entries {
		src, _ := schemaFS.ReadFile(e.Name())
		for line := range strings.Lines(string(src)) {
			if code, _, _ := strings.Cut(line, "//"); defaultMark.MatchString(code) {
				inSchema++
			}
		}
	}
	if n := strings.Count(string(got), "\": *"); n != inSchema || n == 0 {
		t.Errorf("the defaults file holds %d defaults, the schema's files write %d", n, inSchema)
	}
}

var defaultMark = regexp.MustCompile(`:\s*\*["0-9a-z]`)

// templatedRepo is a repository written the CUE way: house defaults for
// every service by a pattern constraint, teams listing their services, a
// comprehension declaring them, and overrides: c1 replaces a default of
// every service, c3 one route of one service.
func templatedRepo(services int) Files {
	files := Files{
		"fleet.cue": []byte(`package intents

fleet: clusters: {
	c1: {wave: 1, labels: region: "eu"}
	c2: wave: 2
	c3: wave: 2
}
fleet: clusters: c1: overrides: services: [_]: timeout: "20s"
fleet: clusters: c3: overrides: services: "svc-001": routes: [_, {timeout: "5s"}, _]
`),
		"template.cue": []byte(`package intents

services: [Name=_]: {
	versions: {
		v1: labels: {app: Name, version: "v1"}
		v2: labels: {app: Name, version: "v2"}
	}
	timeout: *"10s" | string
	retries: {attempts: *2 | int, perTryTimeout: "3s", retryOn: ["5xx", "reset", 503]}
	policy: connectionPool: tcp: maxConnections: *100 | int
	policy: outlierDetection: {consecutive5xxErrors: 5, interval: "30s", maxEjectionPercent: 50}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		{match: [{uri: prefix: "/api/\(Name)"}], to: {v1: 80, v2: 20}},
		{},
	]
	canary: {stable: "v1", candidate: "v2", steps: [5, 50, 100], analysis: {minRequests: 200, successRate: 99.5}}
}

_teams: [Team=_]: [...string]
for team, names in _teams for name in names {
	services: (name): namespace: "team-\(team)"
}
`),
	}
	for t := range 3 {
		var b strings.Builder
		fmt.Fprintf(&b, "package intents\n\n_teams: %q: [\n", fmt.Sprintf("t%d", t))
		for i := t; i < services; i += 3 {
			fmt.Fprintf(&b, "\t%q,\n", fmt.Sprintf("svc-%03d", i))
		}
		b.WriteString("]\n")
		files[fmt.Sprintf("team-%d.cue", t)] = []byte(b.String())
	}
	return files
}

// exportedInputs are the repositories the exported way must take: every
// example, every repository of render's golden tests, a templated one, and
// ones that lean on what the schema gives.
func exportedInputs(t testing.TB) map[string]Files {
	inputs := map[string]Files{"templated": templatedRepo(30)}
	dirs, _ := filepath.Glob("../examples/*")
	more, _ := filepath.Glob("../render/testdata/*")
	for _, dir := range append(dirs, more...) {
		files, err := ReadDir(context.Background(), dir)
		if err == nil && len(files) > 0 {
			inputs[filepath.Base(dir)] = files
		}
	}
	if len(inputs) < 10 {
		t.Fatalf("found %d repositories, want the examples and render's test data", len(inputs))
	}
	// A valid intent of every kind (kinds_test.go).
	every := Files{}
	for kind, sample := range kindSamples {
		every[kind+".cue"] = []byte("package intents\n" + sample + "\n")
	}
	inputs["every-kind"] = every
	const svc = `services: a: {versions: v1: labels: version: "v1"
	routes: [{}]
	canary: {stable: "v1", steps: [100]}
}
`
	for name, src := range map[string]string{
		// A reference to a value only the schema's default gives.
		"schema-default-read": svc + `services: b: namespace: services.a.namespace`,
		// A comprehension over a struct the schema's defaults fill in.
		"schema-struct-listed": "import \"strings\"\n\n" + svc + `services: b: {
	versions: {for k, _ in services.a.canary.analysis {(strings.ToLower(k)): labels: version: k}}
}`,
		// A default of the user's own that agrees with the schema's.
		"same-default": svc + `services: [_]: namespace: *"default" | string`,
		// A default of the user's own where the schema has none.
		"own-default": svc + `services: [_]: timeout: *"5s" | string`,
		// A default overridden by a concrete value.
		"override-default": svc + `services: [_]: namespace: *"x" | string
services: a: namespace: "y"`,
	} {
		src = "package intents\n\n" + src + "\n"
		inputs[name] = Files{"a.cue": []byte(src)}
	}
	return inputs
}

// loadBothWays loads files the exported way and the one-package way, for
// the fleet (cluster "") or one cluster (LoadCluster).
func loadBothWays(files Files, cluster string) (exported, unified *Intents, eerr, uerr error) {
	eb := &builder{ctx: cuecontext.New(), files: files, only: cluster, exported: true}
	exported, eerr = eb.load()
	ub := &builder{ctx: cuecontext.New(), files: files, only: cluster}
	unified, uerr = ub.load()
	return
}

// TestExportedMatchesUnified: where the exported way loads a repository,
// it gives exactly what unifying it with the schema gives (the fleet's
// intents, every cluster's view, warnings and sources included), and it
// does load every example and test repository.
func TestExportedMatchesUnified(t *testing.T) {
	for name, files := range exportedInputs(t) {
		t.Run(name, func(t *testing.T) {
			got, want, gerr, werr := loadBothWays(files, "")
			if werr != nil {
				t.Fatalf("one package: %v", werr)
			}
			if gerr != nil {
				t.Fatalf("the exported way declined: %v", gerr)
			}
			sameIntents(t, "fleet", want, got)
			fleet := want
			for _, c := range slices.Sorted(maps.Keys(want.Fleet.Clusters)) {
				sameIntents(t, "fleet, cluster "+c, want.ForCluster(c), got.ForCluster(c))
				got, want, gerr, werr := loadBothWays(files, c)
				if werr != nil || gerr != nil {
					t.Fatalf("cluster %s: one package: %v; exported: %v", c, werr, gerr)
				}
				sameIntents(t, "cluster "+c, want.ForCluster(c), got.ForCluster(c))
				// A view names the files the fleet's intents do: its
				// overrides change intents, they do not declare them.
				if diff := cmp.Diff(fleet.Sources, got.ForCluster(c).Sources); diff != "" {
					t.Errorf("cluster %s: sources differ from the fleet's (-fleet +cluster):\n%s", c, diff)
				}
			}
		})
	}
}

func sameIntents(t *testing.T, what string, want, got *Intents) {
	t.Helper()
	want.WholeNumbers() // as the evaluation child's answer does; see WholeNumbers
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Intents{})); diff != "" {
		t.Errorf("%s: the exported way differs from one package (-unified +exported):\n%s", what, diff)
	}
}

// TestExportedDeclines: what the exported way is not sure of, it leaves
// to the one-package way, and Load's answer is that way's, errors and
// all.
func TestExportedDeclines(t *testing.T) {
	const svc = "package intents\n\nservices: a: versions: v1: labels: version: \"v1\"\n"
	for name, src := range map[string]string{
		// The user's default meets the schema's: unification leaves no
		// default, so the namespace is not concrete.
		"defaults meet":          svc + `services: [_]: namespace: *"team" | string`,
		"unknown field":          svc + `service: b: {}`,
		"misspelled":             svc + `services: a: timout: "1s"`,
		"not concrete":           svc + `services: a: timeout: string`,
		"bad value":              svc + `services: a: timeout: "10 seconds"`,
		"conflict":               svc + `services: a: timeout: "1s"` + "\n" + `services: a: timeout: "2s"`,
		"semantic":               svc + `services: a: canary: {stable: "v9", steps: [100]}`,
		"overrides not a struct": svc + `fleet: clusters: c1: {wave: 1, overrides: 5}`,
		"conflict in overrides":  svc + `fleet: clusters: c1: {wave: 1, overrides: {a: 1, a: 2}}`,
		"bad override":           svc + `fleet: clusters: c1: {wave: 1, overrides: services: a: timeout: "x"}`,
		"fleet misspelled":       svc + `fleet: cluster: c1: wave: 1`,
		"cluster misspelled":     svc + `fleet: clusters: c1: wav: 1`,
		// Services b and c share their timeout, checked once; d's is
		// its own, and wrong.
		"a later service": svc + `services: [_]: timeout: *"1s" | string
services: b: {}
services: c: {}
services: d: timeout: "1 s"`,
		// Found by FuzzExportedMatchesUnified: an intent named "" was
		// taken for the fleet, which has no name, and got lost.
		"empty name":     svc + `gateways: "": {}`,
		"raw incomplete": svc + `raw: [{apiVersion: "networking.istio.io/v1", kind: "Sidecar", metadata: name: string, spec: {}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			files := Files{"a.cue": []byte(src)}
			for _, cluster := range []string{"", "c1"} {
				_, _, gerr, werr := loadBothWays(files, cluster)
				if !errors.Is(gerr, errDeclined) {
					t.Errorf("cluster %q: the exported way gave %v, want it to decline", cluster, gerr)
				}
				if werr == nil {
					t.Fatalf("cluster %q: the one-package way found nothing wrong", cluster)
				}
				var err error
				if cluster == "" {
					_, err = Load(files)
				} else {
					_, err = LoadCluster(files, cluster)
				}
				if err == nil || err.Error() != werr.Error() {
					t.Errorf("cluster %q: Load says\n%v\nwant the one-package way's\n%v", cluster, err, werr)
				}
			}
		})
	}
}

// TestServiceFieldsStandAlone holds what sameFields relies on to check a
// service's fields apart: #Service is a struct of plain fields, none of
// them required, and no field's value refers to anything but definitions,
// packages and CUE's own types; nothing else (an embedded validator, a
// comprehension) constrains the service as a whole.
func TestServiceFieldsStandAlone(t *testing.T) {
	src, err := schemaFS.ReadFile("service.cue")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile("service.cue", src)
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for imp := range f.ImportSpecs() {
		p, _ := strconv.Unquote(imp.Path.Value)
		imported[path.Base(p)] = true
	}
	predeclared := map[string]bool{"_": true, "string": true, "int": true, "uint": true, "float": true, "number": true, "bool": true, "bytes": true, "null": true}
	var service *ast.StructLit
	for _, d := range f.Decls {
		if field, ok := d.(*ast.Field); ok {
			if name, _, _ := ast.LabelName(field.Label); name == "#Service" {
				service, _ = field.Value.(*ast.StructLit)
			}
		}
	}
	if service == nil {
		t.Fatal("service.cue: no #Service struct")
	}
	fields := 0
	for _, e := range service.Elts {
		field, ok := e.(*ast.Field)
		if !ok {
			t.Errorf("#Service holds a %T at %v: sameFields cannot check its fields apart", e, e.Pos())
			continue
		}
		fields++
		name, _, _ := ast.LabelName(field.Label)
		if field.Constraint == token.NOT {
			t.Errorf("#Service.%s is required: sameFields would leave it out of services it checks", name)
		}
		// Aliases declared inside the field ([V=#DNSLabel]: ...) are its
		// own; a selector's name (list.MinItems) is no reference.
		local := map[string]bool{}
		ast.Walk(field.Value, func(n ast.Node) bool {
			if a, ok := n.(*ast.Alias); ok {
				local[a.Ident.Name] = true
			}
			return true
		}, nil)
		var refs func(n ast.Node) bool
		refs = func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				ast.Walk(n.X, refs, nil)
				return false
			case *ast.Ident:
				if !strings.HasPrefix(n.Name, "#") && !imported[n.Name] && !predeclared[n.Name] && !local[n.Name] {
					t.Errorf("#Service.%s refers to %s: sameFields cannot check it apart", name, n.Name)
				}
			}
			return true
		}
		ast.Walk(field.Value, refs, nil)
	}
	if fields < 10 {
		t.Errorf("#Service has %d fields: not the struct this test reads", fields)
	}
}

// TestExportedLeavesWarnings: a repository with a warning loads the
// one-package way, where the warning has its position.
func TestExportedLeavesWarnings(t *testing.T) {
	files := Files{"mesh.cue": []byte(`package intents

authorization: admin: {namespace: "shop", selector: app: "admin", action: "DENY", rules: [{to: [{paths: ["/admin"]}]}]}
`)}
	_, want, gerr, werr := loadBothWays(files, "")
	if !errors.Is(gerr, errDeclined) || werr != nil {
		t.Fatalf("the exported way gave %v, the one-package way %v; want the exported way to decline and the other to load", gerr, werr)
	}
	in, err := Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Warnings) == 0 {
		t.Fatal("no warning: not the input this test needs")
	}
	if diff := cmp.Diff(want.Warnings.Strings(), in.Warnings.Strings()); diff != "" {
		t.Errorf("Load's warnings (-one package +Load):\n%s", diff)
	}
}

// FuzzExportedMatchesUnified: whatever the exported way loads, the
// one-package way loads too, to the same intents and views, for the
// fleet and for each cluster alone.
func FuzzExportedMatchesUnified(f *testing.F) {
	for _, files := range exportedInputs(f) {
		if len(files) == 1 {
			for _, src := range files {
				f.Add(string(src))
			}
		}
	}
	f.Add("package intents\n\nservices: [_]: namespace: *\"team\" | string\nservices: a: {}\n")
	f.Add("package intents\n\nfleet: clusters: c1: {wave: 1, overrides: services: a: timeout: \"2s\"}\nservices: a: timeout: *\"1s\" | string\n")
	f.Fuzz(func(t *testing.T, src string) {
		files := Files{"a.cue": []byte(src)}
		got, want, gerr, werr := loadBothWays(files, "")
		if gerr != nil {
			return // declined, or not even parsed: the one-package way answers
		}
		if werr != nil {
			t.Fatalf("the exported way loaded what the one-package way rejects:\n%v", werr)
		}
		sameIntents(t, "fleet", want, got)
		for _, c := range slices.Sorted(maps.Keys(want.Fleet.Clusters)) {
			sameIntents(t, "cluster "+c, want.ForCluster(c), got.ForCluster(c))
			// And the cluster's view alone (LoadCluster).
			got, want, gerr, werr := loadBothWays(files, c)
			switch {
			case gerr != nil:
				continue
			case werr != nil:
				t.Fatalf("cluster %s: the exported way loaded what the one-package way rejects:\n%v", c, werr)
			}
			sameIntents(t, "cluster "+c+" alone", want.ForCluster(c), got.ForCluster(c))
		}
	})
}
