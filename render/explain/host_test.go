package explain

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFQDN(t *testing.T) {
	for _, tc := range []struct{ host, ns, want string }{
		// Istio reads a short name relative to the object's namespace,
		// not the service's.
		{"reviews", "default", "reviews.default.svc.cluster.local"},
		{"Reviews", "shop", "reviews.shop.svc.cluster.local"},
		// Anything with a dot is taken as written, even a partial name.
		{"reviews.default", "shop", "reviews.default"},
		{"api.example.com", "default", "api.example.com"},
		{"*.example.com", "default", "*.example.com"},
		{"*", "default", "*"},
	} {
		if got := fqdn(tc.host, tc.ns); got != tc.want {
			t.Errorf("fqdn(%q, %q) = %q, want %q", tc.host, tc.ns, got, tc.want)
		}
	}
}

func TestMeshNames(t *testing.T) {
	for _, tc := range []struct {
		host, ns string
		want     []string
	}{
		// The DNS search path of a pod in shop.
		{"reviews", "shop", []string{"reviews", "reviews.shop.svc.cluster.local"}},
		{"reviews.default", "shop", []string{"reviews.default", "reviews.default.svc.cluster.local"}},
		{"reviews.default.svc", "shop", []string{"reviews.default.svc", "reviews.default.svc.cluster.local"}},
		{"reviews.default.svc.cluster.local", "shop", []string{"reviews.default.svc.cluster.local"}},
		{"api.example.com", "shop", []string{"api.example.com"}},
	} {
		if diff := cmp.Diff(tc.want, meshNames(tc.host, tc.ns)); diff != "" {
			t.Errorf("meshNames(%q, %q) (-want +got):\n%s", tc.host, tc.ns, diff)
		}
	}
}

func TestHostMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything.at.all", true},
		{"*.example.com", "api.example.com", true},
		// Envoy's suffix wildcards cover deeper names too.
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"api.example.com", "api.example.com", true},
		{"api.example.com", "app.example.com", false},
		{"reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local", true},
	} {
		if got := hostMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("hostMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
	if !(specificity("api.example.com") > specificity("*.example.com") && specificity("*.example.com") > specificity("*.com") && specificity("*.com") > specificity("*")) {
		t.Error("specificity: want exact > longer wildcard > shorter wildcard > *")
	}
}

func TestServiceNamespace(t *testing.T) {
	for host, want := range map[string]string{
		"reviews.default.svc.cluster.local": "default",
		"api.example.com":                   "",
		"reviews.svc.cluster.local":         "",
		"a.b.c.svc.cluster.local":           "",
	} {
		got, ok := serviceNamespace(host)
		if got != want || ok != (want != "") {
			t.Errorf("serviceNamespace(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string]struct {
		host string
		port int
	}{
		"reviews":          {"reviews", 0},
		"reviews:9080":     {"reviews", 9080},
		"api.example.com:": {"api.example.com:", 0},
		"x:99999":          {"x:99999", 0},
	} {
		h, p := splitHostPort(in)
		if h != want.host || p != want.port {
			t.Errorf("splitHostPort(%q) = %q, %d; want %q, %d", in, h, p, want.host, want.port)
		}
	}
}
