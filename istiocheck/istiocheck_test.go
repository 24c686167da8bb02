package istiocheck

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
)

// TestGoldenFilesPassIstio: every golden file of render's tests, exactly
// as checked in, passes Istio's own validation without an error or a
// warning.
func TestGoldenFilesPassIstio(t *testing.T) {
	goldens, err := filepath.Glob("../render/testdata/*.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob("../render/testdata/examples/*.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	goldens = append(goldens, examples...)
	if len(goldens) < 10 {
		t.Fatalf("found %d golden files, want render's and every example's (at least 10)", len(goldens))
	}
	for _, file := range goldens {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		requireClean(t, file, b)
	}
}

// TestExamplesPassIstio: what every example renders, for every cluster of
// its fleet and for no cluster at all, passes Istio's own validation
// without an error or a warning.
func TestExamplesPassIstio(t *testing.T) {
	dirs, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		checked++
		files, err := schema.ReadDir(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		in, err := schema.Load(files)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		clusters := append([]string{""}, slices.Sorted(maps.Keys(in.Fleet.Clusters))...)
		for _, cluster := range clusters {
			objs, err := render.Render(in, render.Options{Cluster: cluster, Commit: "0123456"})
			if err != nil {
				t.Fatalf("%s cluster %q: %v", dir, cluster, err)
			}
			b, err := render.Encode(objs, "yaml")
			if err != nil {
				t.Fatal(err)
			}
			where := dir
			if cluster != "" {
				where += " (cluster " + cluster + ")"
			}
			if n := requireClean(t, where, b); n != len(objs) {
				t.Errorf("%s: Istio's validation read %d objects of %d rendered", where, n, len(objs))
			}
		}
	}
	if checked < 8 {
		t.Errorf("checked %d examples, want every one (at least 8)", checked)
	}
}

// requireClean fails the test with every finding, each with where it is
// and the object; it returns how many objects were checked.
func requireClean(t *testing.T, where string, stream []byte) int {
	t.Helper()
	findings, n, err := Check(stream)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if n == 0 {
		t.Errorf("%s: no objects", where)
	}
	for _, f := range findings {
		t.Errorf("%s: %s", where, f)
	}
	return n
}

// TestCheckReportsEveryFinding: Check keeps going after an invalid object,
// and tells errors from warnings, with Istio's own messages; so the tests
// above can fail.
func TestCheckReportsEveryFinding(t *testing.T) {
	stream := strings.Join([]string{
		`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: shop}
spec:
  hosts: []
  gateways: [mesh]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 60
    - destination: {host: reviews, subset: v2}
      weight: 60
`, `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-no-token, namespace: shop}
spec:
  action: DENY
  rules:
  - from:
    - source: {notRequestPrincipals: ["*"]}
`, `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: good, namespace: shop}
spec:
  host: reviews
`}, "")
	got, n, err := Check([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{Object: "VirtualService shop/bad", Msg: "delegate virtual service must have no gateways specified"},
		{Object: "AuthorizationPolicy shop/deny-no-token", Warning: true, Msg: "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port"},
	}
	if diff := cmp.Diff(want, got); diff != "" || n != 3 {
		t.Errorf("Check read %d objects, want 3; findings (-want +got):\n%s", n, diff)
	}
	if _, _, err := Check(bytes.Repeat([]byte("{"), 3)); err == nil {
		t.Error("Check of a broken stream succeeded, want an error")
	}
}
