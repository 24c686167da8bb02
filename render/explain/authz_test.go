package explain

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pc(name, action string, applies, matches Tri) PolicyCheck {
	p := PolicyCheck{Policy: Ref{Namespace: "default", Name: name}, Action: action, Applies: applies, Matches: matches, Scope: "workloads of namespace default labelled app=x"}
	p.Rules = []RuleCheck{{Index: 1, Matches: matches}}
	return p
}

// TestDecide checks Istio's order of authorization actions: CUSTOM, then
// DENY, then ALLOW; with no ALLOW policy the request is allowed; with
// some, only a matching rule allows. Unknown facts give unknown verdicts,
// never a guess.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies []PolicyCheck
		want     Tri
		reason   string
	}{
		{"no policy allows", nil, Yes, "no ALLOW policy applies and no DENY rule matches"},
		{"a DENY that does not match allows", []PolicyCheck{pc("d", "DENY", Yes, No)}, Yes, "no ALLOW policy applies and no DENY rule matches"},
		{"a matching DENY denies", []PolicyCheck{pc("d", "DENY", Yes, Yes)}, No, "DENY policy default/d rule 1 matches"},
		{"DENY comes before ALLOW", []PolicyCheck{pc("a", "ALLOW", Yes, Yes), pc("d", "DENY", Yes, Yes)}, No, "DENY policy default/d rule 1 matches"},
		{"a matching ALLOW allows", []PolicyCheck{pc("a", "ALLOW", Yes, Yes)}, Yes, "ALLOW policy default/a rule 1 matches"},
		{"an ALLOW that applies and does not match denies", []PolicyCheck{pc("a", "ALLOW", Yes, No)}, No, "ALLOW policies apply (default/a) and none of their rules matches"},
		{"one of two ALLOW policies is enough", []PolicyCheck{pc("a", "ALLOW", Yes, No), pc("b", "ALLOW", Yes, Yes)}, Yes, "ALLOW policy default/b rule 1 matches"},
		{"an ALLOW that does not apply does not count", []PolicyCheck{pc("a", "ALLOW", No, No)}, Yes, "no ALLOW policy applies and no DENY rule matches"},
		{"AUDIT decides nothing", []PolicyCheck{pc("au", "AUDIT", Yes, Yes)}, Yes, "no ALLOW policy applies and no DENY rule matches"},
		{"a matching CUSTOM hands over to its provider", []PolicyCheck{pc("c", "CUSTOM", Yes, Yes)}, Unknown, "CUSTOM policy default/c hands the request to its provider, which decides"},
		{"a matching DENY denies whatever CUSTOM says", []PolicyCheck{pc("c", "CUSTOM", Yes, Yes), pc("d", "DENY", Yes, Yes)}, No, "DENY policy default/d rule 1 matches"},
		{"an ALLOW that may apply and matches", []PolicyCheck{pc("a", "ALLOW", Unknown, Yes)}, Unknown, "ALLOW policy default/a rule 1 matches, if the policy selects these pods: workloads of namespace default labelled app=x"},
		{"an ALLOW that may apply and does not match", []PolicyCheck{pc("a", "ALLOW", Unknown, No)}, Unknown, "whether ALLOW policies (default/a) apply cannot be told offline: if they do, none of their rules matches"},
		{"a DENY that may apply and matches", []PolicyCheck{pc("d", "DENY", Unknown, Yes)}, Unknown, "DENY policy default/d rule 1 matches, if the policy selects these pods: workloads of namespace default labelled app=x"},
		{"a DENY that may apply does not save a denied request", []PolicyCheck{pc("d", "DENY", Unknown, Yes), pc("a", "ALLOW", Yes, No)}, No, "ALLOW policies apply (default/a) and none of their rules matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := decide(tc.policies)
			if diff := cmp.Diff(struct {
				T      Tri
				Reason string
			}{tc.want, tc.reason}, struct {
				T      Tri
				Reason string
			}{got, reason}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPatterns checks Istio's value patterns in authorization rules.
func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		match func(string, string) bool
		p, v  string
		want  bool
	}{
		{pattern, "*", "anything", true},
		{pattern, "*", "", false},
		{pattern, "/api/*", "/api/orders", true},
		{pattern, "/api/*", "/api", false},
		{pattern, "*.example.com", "api.example.com", true},
		{pattern, "GET", "get", false},
		{patternFold, "API.example.com", "api.example.com", true},
		{pathPattern, "/api/{*}/orders", "/api/v1/orders", true},
		{pathPattern, "/api/{*}/orders", "/api/v1/x/orders", false},
		{pathPattern, "/api/{**}", "/api/v1/x/orders", true},
		{inBlock, "10.0.0.0/8", "10.1.2.3", true},
		{inBlock, "10.0.0.0/8", "192.168.0.1", false},
		{inBlock, "10.1.2.3", "10.1.2.3", true},
	} {
		if got := tc.match(tc.p, tc.v); got != tc.want {
			t.Errorf("%q against %q = %v, want %v", tc.p, tc.v, got, tc.want)
		}
	}
}
