package explain

import (
	"strings"
	"testing"

	networking "istio.io/api/networking/v1alpha3"
)

func exact(s string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Exact{Exact: s}}
}

func prefix(s string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Prefix{Prefix: s}}
}

func regex(s string) *networking.StringMatch {
	return &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: s}}
}

// sidecarRequest is a GET from a sidecar in default, as matchHTTP sees it.
func sidecarRequest(path string, headers map[string][]string) *routed {
	req := &Request{Host: "reviews", Method: "GET", Path: path, Headers: headers}
	p, q, _ := req.pathAndQuery()
	return &routed{req: req, path: p, query: q, port: 80, scheme: "http", by: proxy{gateway: "mesh", namespace: "default", labels: map[string]string{"app": "productpage"}}}
}

// TestMatchHTTP checks every field of an HTTPMatchRequest against Istio's
// documented behaviour (and Envoy's, which Istio configures). A case's
// want is the first condition that fails, or "" when the match holds.
func TestMatchHTTP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match *networking.HTTPMatchRequest
		req   *routed
		fail  string
	}{
		{"an empty match takes every request", &networking.HTTPMatchRequest{}, sidecarRequest("/", nil), ""},

		{"uri exact", &networking.HTTPMatchRequest{Uri: exact("/reviews")}, sidecarRequest("/reviews", nil), ""},
		{"uri exact ignores the query string", &networking.HTTPMatchRequest{Uri: exact("/reviews")}, sidecarRequest("/reviews?page=2", nil), ""},
		{"uri exact is exact", &networking.HTTPMatchRequest{Uri: exact("/reviews")}, sidecarRequest("/reviews/1", nil), `uri exact "/reviews": the path is "/reviews/1"`},
		// A prefix is a string prefix, not a path segment: /api/v1/users
		// takes /api/v1/users-admin too.
		{"uri prefix is a string prefix", &networking.HTTPMatchRequest{Uri: prefix("/api/v1/users")}, sidecarRequest("/api/v1/users-admin", nil), ""},
		{"uri prefix fails", &networking.HTTPMatchRequest{Uri: prefix("/api/v2")}, sidecarRequest("/api/v1/users", nil), `uri prefix "/api/v2": the path is "/api/v1/users"`},
		{"uri prefix sees the query string", &networking.HTTPMatchRequest{Uri: prefix("/a?x=1")}, sidecarRequest("/a?x=1", nil), ""},
		{"uri prefix is case-sensitive", &networking.HTTPMatchRequest{Uri: prefix("/API")}, sidecarRequest("/api", nil), `uri prefix "/API": the path is "/api"`},
		{"ignoreUriCase for a prefix", &networking.HTTPMatchRequest{Uri: prefix("/API"), IgnoreUriCase: true}, sidecarRequest("/api/x", nil), ""},
		{"ignoreUriCase for exact", &networking.HTTPMatchRequest{Uri: exact("/API"), IgnoreUriCase: true}, sidecarRequest("/api", nil), ""},
		{"ignoreUriCase never applies to a regex", &networking.HTTPMatchRequest{Uri: regex("/API"), IgnoreUriCase: true}, sidecarRequest("/api", nil), `uri regex "/API" (ignoring case): the path is "/api"`},
		// RE2, and the whole path must match.
		{"uri regex matches the whole path", &networking.HTTPMatchRequest{Uri: regex("/v[0-9]+")}, sidecarRequest("/v12", nil), ""},
		{"uri regex is not a search", &networking.HTTPMatchRequest{Uri: regex("/v[0-9]")}, sidecarRequest("/v12", nil), `uri regex "/v[0-9]": the path is "/v12"`},
		{"uri regex without the query string", &networking.HTTPMatchRequest{Uri: regex("/v[0-9]+")}, sidecarRequest("/v1?x=y", nil), ""},
		{"a regex that does not compile", &networking.HTTPMatchRequest{Uri: regex("(")}, sidecarRequest("/", nil), "uri regex \"(\": regex \"(\" does not compile: error parsing regexp: missing closing ): `^(?:()$`"},

		{"header exact", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-canary": exact("true")}}, sidecarRequest("/", map[string][]string{"x-canary": {"true"}}), ""},
		{"header value is case-sensitive", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-canary": exact("true")}}, sidecarRequest("/", map[string][]string{"x-canary": {"True"}}), `header x-canary exact "true": it is "True"`},
		{"header missing", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-canary": exact("true")}}, sidecarRequest("/", nil), `header x-canary exact "true": not sent`},
		{"header prefix", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"user-agent": prefix("Mozilla")}}, sidecarRequest("/", map[string][]string{"user-agent": {"Mozilla/5.0"}}), ""},
		{"header regex is a full match", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-v": regex("v1")}}, sidecarRequest("/", map[string][]string{"x-v": {"v10"}}), `header x-v regex "v1": it is "v10"`},
		{"a header sent twice is matched joined by commas", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-v": exact("a,b")}}, sidecarRequest("/", map[string][]string{"x-v": {"a", "b"}}), ""},
		{"an empty match asks for presence", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-debug": {}}}, sidecarRequest("/", map[string][]string{"x-debug": {""}}), ""},
		{"regex * asks for presence", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"x-debug": regex("*")}}, sidecarRequest("/", nil), `header x-debug present: not sent`},
		{"headers are ANDed", &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"a": exact("1"), "b": exact("2")}}, sidecarRequest("/", map[string][]string{"a": {"1"}}), `header b exact "2": not sent`},

		{"withoutHeaders: not sent holds", &networking.HTTPMatchRequest{WithoutHeaders: map[string]*networking.StringMatch{"x-canary": exact("true")}}, sidecarRequest("/", nil), ""},
		{"withoutHeaders: another value holds", &networking.HTTPMatchRequest{WithoutHeaders: map[string]*networking.StringMatch{"x-canary": exact("true")}}, sidecarRequest("/", map[string][]string{"x-canary": {"false"}}), ""},
		{"withoutHeaders: the value fails", &networking.HTTPMatchRequest{WithoutHeaders: map[string]*networking.StringMatch{"x-canary": exact("true")}}, sidecarRequest("/", map[string][]string{"x-canary": {"true"}}), `without header x-canary exact "true": it is "true"`},
		{"withoutHeaders presence: sent fails", &networking.HTTPMatchRequest{WithoutHeaders: map[string]*networking.StringMatch{"x-debug": {}}}, sidecarRequest("/", map[string][]string{"x-debug": {"1"}}), `without header x-debug present: it is "1"`},
		// A missing header fails the value match, which withoutHeaders
		// inverts, even for a prefix that every value has.
		{"withoutHeaders prefix \"\": not sent holds", &networking.HTTPMatchRequest{WithoutHeaders: map[string]*networking.StringMatch{"x-debug": prefix("")}}, sidecarRequest("/", nil), ""},
		{"withoutHeaders prefix \"\": sent fails", &networking.HTTPMatchRequest{WithoutHeaders: map[string]*networking.StringMatch{"x-debug": prefix("")}}, sidecarRequest("/", map[string][]string{"x-debug": {"1"}}), `without header x-debug prefix "": it is "1"`},

		{"query exact", &networking.HTTPMatchRequest{QueryParams: map[string]*networking.StringMatch{"v": exact("2")}}, sidecarRequest("/?v=2", nil), ""},
		{"query first value", &networking.HTTPMatchRequest{QueryParams: map[string]*networking.StringMatch{"v": exact("2")}}, sidecarRequest("/?v=1&v=2", nil), `query v exact "2": it is "1"`},
		{"query missing", &networking.HTTPMatchRequest{QueryParams: map[string]*networking.StringMatch{"v": exact("2")}}, sidecarRequest("/", nil), `query v exact "2": not sent`},
		{"query regex", &networking.HTTPMatchRequest{QueryParams: map[string]*networking.StringMatch{"id": regex("[0-9]+")}}, sidecarRequest("/?id=42", nil), ""},
		{"query presence", &networking.HTTPMatchRequest{QueryParams: map[string]*networking.StringMatch{"debug": {}}}, sidecarRequest("/?debug", nil), ""},
		{"query names are case-sensitive", &networking.HTTPMatchRequest{QueryParams: map[string]*networking.StringMatch{"V": exact("2")}}, sidecarRequest("/?v=2", nil), `query V exact "2": not sent`},

		{"method", &networking.HTTPMatchRequest{Method: exact("POST")}, sidecarRequest("/", nil), `method exact "POST": it is "GET"`},
		{"authority", &networking.HTTPMatchRequest{Authority: prefix("reviews")}, sidecarRequest("/", nil), ""},
		{"port", &networking.HTTPMatchRequest{Port: 9080}, sidecarRequest("/", nil), "port 9080: the request is for port 80"},

		{"sourceLabels", &networking.HTTPMatchRequest{SourceLabels: map[string]string{"app": "productpage"}}, sidecarRequest("/", nil), ""},
		{"sourceLabels fail", &networking.HTTPMatchRequest{SourceLabels: map[string]string{"app": "ratings"}}, sidecarRequest("/", nil), "source labels app=ratings: the client carries app=productpage"},
		{"sourceNamespace", &networking.HTTPMatchRequest{SourceNamespace: "shop"}, sidecarRequest("/", nil), "source namespace shop: the client is in default"},
		{"gateways: mesh", &networking.HTTPMatchRequest{Gateways: []string{"mesh"}}, sidecarRequest("/", nil), ""},
		{"gateways: not this proxy", &networking.HTTPMatchRequest{Gateways: []string{"istio-system/main-gateway"}}, sidecarRequest("/", nil), "gateways istio-system/main-gateway: the request comes through mesh"},
		// Istio documents the gateway match as independent of source
		// labels; its route builder does not look at them then.
		{"gateways make source labels moot", &networking.HTTPMatchRequest{Gateways: []string{"mesh"}, SourceLabels: map[string]string{"app": "ratings"}}, sidecarRequest("/", nil), ""},

		{"fields are ANDed: the first failure is named", &networking.HTTPMatchRequest{Uri: prefix("/api"), Method: exact("POST")}, sidecarRequest("/api/x", nil), `method exact "POST": it is "GET"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, conds, err := matchHTTP(tc.match, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.fail == "" {
				if !ok {
					t.Errorf("want a match, got failure %q", conds)
				}
				return
			}
			if ok || len(conds) != 1 || conds[0] != tc.fail {
				t.Errorf("got match %v, conditions %q; want failure %q", ok, conds, tc.fail)
			}
		})
	}
}

func TestMatchJWTClaims(t *testing.T) {
	m := &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"@request.auth.claims.groups": exact("beta")}}
	r := sidecarRequest("/", nil)
	if ok, conds, _ := matchHTTP(m, r); ok || !strings.Contains(conds[0], "no token validated here") {
		t.Errorf("without a validated token: %v %q", ok, conds)
	}
	r.claims = map[string]any{"groups": []any{"alpha", "beta"}}
	if ok, conds, _ := matchHTTP(m, r); !ok {
		t.Errorf("a list claim with the value: %q", conds)
	}
	m = &networking.HTTPMatchRequest{Headers: map[string]*networking.StringMatch{"@request.auth.claims[realm][role]": exact("admin")}}
	r.claims = map[string]any{"realm": map[string]any{"role": "user"}}
	if ok, conds, _ := matchHTTP(m, r); ok || !strings.Contains(conds[0], `it is user`) {
		t.Errorf("a nested claim with another value: %v %q", ok, conds)
	}
}
