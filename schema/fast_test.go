package schema

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue/cuecontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// onePackage loads files the way that always holds: as one CUE package.
func onePackage(t *testing.T, files Files) *Intents {
	t.Helper()
	in, err := (&builder{ctx: cuecontext.New(), files: files}).load()
	if err != nil {
		t.Fatalf("one package: %v", err)
	}
	return in
}

// TestSplitEqualsOnePackage: where loading file by file applies, it gives
// exactly what loading the files as one package gives.
func TestSplitEqualsOnePackage(t *testing.T) {
	var b strings.Builder
	gen := Files{"fleet.cue": []byte("package intents\nfleet: clusters: {a: wave: 1, b: wave: 2}\n")}
	for f := 0; f < 4; f++ {
		b.Reset()
		b.WriteString("package intents\n")
		for i := f * 25; i < (f+1)*25; i++ {
			fmt.Fprintf(&b, `services: "svc-%03d": {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	gateways: ["mesh", "edge"]
	routes: [{match: [{uri: prefix: "/%d"}], to: v2: 100}, {}]
	canary: {stable: "v1", candidate: "v2", steps: [10, 100]}
	policy: outlierDetection: consecutive5xxErrors: 3
}
`, i, i)
		}
		gen[fmt.Sprintf("team-%d.cue", f)] = []byte(b.String())
	}
	gen["gateway.cue"] = []byte(`package intents
gateways: edge: {namespace: "istio-system", selector: istio: "ingressgateway", https: {hosts: ["*"], credentialName: "x"}}
`)
	inputs := map[string]Files{"generated": gen}
	dirs, _ := filepath.Glob("../examples/*")
	for _, dir := range dirs {
		files, err := ReadDir(context.Background(), dir)
		if err == nil && len(files) > 1 {
			inputs[filepath.Base(dir)] = files
		}
	}
	split := 0
	for name, files := range inputs {
		t.Run(name, func(t *testing.T) {
			want := onePackage(t, files)
			got, ok := loadSplit(files)
			if !ok {
				return // declined: Load takes the one-package path
			}
			split++
			if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Intents{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("file by file differs from one package (-want +got):\n%s", diff)
			}
		})
	}
	if split < 3 {
		t.Errorf("loaded %d inputs file by file; want the generated repository and the multi-file examples", split)
	}
}

// TestSplitDeclines: whenever files depend on each other, or something is
// wrong, loading file by file steps aside, and Load still gives what one
// package gives (or its errors, with positions).
func TestSplitDeclines(t *testing.T) {
	svc := func(name, extra string) string {
		return fmt.Sprintf(`services: %s: {versions: v1: labels: version: "v1", routes: [{to: v1: 100}]%s}`, name, extra)
	}
	tests := map[string]Files{
		"a reference to another file's field": {
			"a.cue": []byte("package intents\n_ns: \"shop\"\n"),
			"b.cue": []byte("package intents\n" + svc("b", ", namespace: _ns") + "\n"),
		},
		"one service in two files": {
			"a.cue": []byte("package intents\n" + svc("a", "") + "\n"),
			"b.cue": []byte("package intents\nservices: a: timeout: \"5s\"\n"),
		},
		"a comprehension over every file's services": {
			"a.cue": []byte("package intents\n" + svc("a", `, hosts: [for k, _ in services if k != "a" {k + ".example.com"}]`) + "\n"),
			"b.cue": []byte("package intents\n" + svc("b", "") + "\n"),
		},
		"a cluster with overrides": {
			"a.cue": []byte("package intents\nfleet: clusters: c: overrides: services: a: timeout: \"5s\"\n"),
			"b.cue": []byte("package intents\n" + svc("a", `, timeout: *"1s" | string`) + "\n"),
		},
		"a gateway in another file that does not exist": {
			"a.cue": []byte("package intents\n" + svc("a", `, gateways: ["edge"]`) + "\n"),
			"b.cue": []byte("package intents\n" + svc("b", "") + "\n"),
		},
		"an embedding at the top": {
			"a.cue": []byte("package intents\n{services: a: {versions: v1: labels: version: \"v1\", routes: [{to: v1: 100}]}}\n"),
			"b.cue": []byte("package intents\n" + svc("b", "") + "\n"),
		},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			if _, ok := loadSplit(files); ok {
				t.Fatal("loaded file by file, want it to decline")
			}
		})
	}
	// And Load still gives the one-package answer.
	in, err := Load(tests["one service in two files"])
	if err != nil || text(in.Services["a"].Timeout) != "5s" || len(in.Services["a"].Routes) != 1 {
		t.Errorf("one service in two files: %+v, %v; want the two unified", in.Services["a"], err)
	}
	in, err = Load(tests["a comprehension over every file's services"])
	if err != nil || len(in.Services["a"].Hosts) != 1 || in.Services["a"].Hosts[0] != "b.example.com" {
		t.Errorf("a comprehension across files: %+v, %v; want b's host", in.Services["a"], err)
	}
	in, err = Load(tests["a reference to another file's field"])
	if err != nil || in.Services["b"].Namespace != "shop" {
		t.Errorf("a reference across files: %+v, %v; want namespace shop", in.Services["b"], err)
	}
	if _, err := Load(tests["a gateway in another file that does not exist"]); err == nil || !strings.Contains(err.Error(), `a.cue:2:`) {
		t.Errorf("a missing gateway: %v, want the error with its position", err)
	}
}
