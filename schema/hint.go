package schema

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// hint says what to do about a CUE error, in the terms of the schema.
func (b *builder) hint(e cueerrors.Error, ce Error) string {
	path := e.Path()
	for i, p := range path {
		if u, err := strconv.Unquote(p); err == nil {
			path[i] = u
		}
	}
	switch {
	case strings.Contains(ce.Msg, "field not allowed") && len(path) > 0:
		field := path[len(path)-1]
		if outlierFields[field] && strings.Contains(strings.Join(path, "."), "connectionPool") {
			return field + " is an outlier-detection (circuit breaking) setting: move it from connectionPool to outlierDetection, next to connectionPool"
		}
		allowed := b.allowedFields(path[:len(path)-1])
		if len(allowed) == 0 {
			// Only a pattern is allowed here, such as the names of services.
			return "each name here must be " + patternText[dnsLabel]
		}
		if s := closest(field, allowed); s != "" {
			return fmt.Sprintf("did you mean %q?", s)
		}
		return "fields allowed here: " + strings.Join(allowed, ", ")
	case strings.Contains(ce.Msg, "field is required but not present"):
		return "add the field; see docs/intents.md"
	case strings.Contains(ce.Msg, "incomplete value"):
		return "give the field a concrete value"
	}
	return ""
}

// Patterns of the schema, as CUE quotes them in "out of bound" errors,
// with what they mean in words.
const dnsLabel = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`

var patternText = map[string]string{
	dnsLabel: "a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as reviews-v2",
	`^(\\*\\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`:                                   "a host name in lower case, such as reviews, reviews.shop.svc.cluster.local or *.example.com",
	`^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$`:                                           "a duration such as 100ms, 30s, 1.5m or 1h30m",
	`^#?[a-z0-9][-_a-z0-9]*$`:                                                     "a Slack channel name such as #deploys",
	`^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`: "a host name in lower case, such as api.example.com or *.example.com",
	`^(([a-z0-9]([-a-z0-9]*[a-z0-9])?|\\*|\\.)/)?(\\*|(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$`: "a host name in lower case, optionally after NAMESPACE/, such as api.example.com, */api.example.com or *",
	`^[a-z.]+\\.istio\\.io/v[0-9a-z]+$`: "an Istio apiVersion such as networking.istio.io/v1",
	`^https?://`:                        "an http:// or https:// URL",
	`^/`:                                "a path starting with /",
	`^([a-z0-9-]+|@request\\.auth\\.claims(\\.[-_A-Za-z0-9]+)+)$`: "a header name in lower case, such as x-user-type, or a JWT claim written @request.auth.claims.NAME",
}

var outOfBound = regexp.MustCompile(`^invalid value (.*) \(out of bound =~"(.*)"\)$`)

// explainPattern rewrites "invalid value X (out of bound =~REGEX)" in
// words, for the patterns of the schema.
func explainPattern(msg string) string {
	m := outOfBound.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	if text, ok := patternText[m[2]]; ok {
		return fmt.Sprintf("%s is not %s", m[1], text)
	}
	return msg
}

// outlierFields are fields of outlierDetection that users put under
// connectionPool, as in the seed scenarios: the fields sound alike.
var outlierFields = map[string]bool{
	"consecutiveErrors": true, "consecutive5xxErrors": true, "consecutiveGatewayErrors": true,
	"consecutiveLocalOriginFailures": true, "splitExternalLocalOriginErrors": true,
	"interval": true, "baseEjectionTime": true, "maxEjectionPercent": true, "minHealthPercent": true,
}

// allowedFields lists the fields the schema declares at a path of the
// intents (as CUE reports it, starting with #Intents).
func (b *builder) allowedFields(path []string) []string {
	v, err := b.schema()
	if err != nil {
		return nil
	}
	if len(path) > 0 && path[0] == "#Intents" {
		path = path[1:]
	}
	for _, p := range path {
		v = step(v, p)
		if !v.Exists() {
			return nil
		}
	}
	var out []string
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return nil
	}
	for it.Next() {
		if s := it.Selector(); s.IsString() {
			out = append(out, s.Unquoted())
		}
	}
	sort.Strings(out)
	return out
}

// step follows one path element through the schema: a declared field
// (regular, optional or required), else a pattern such as [Name=string].
func step(v cue.Value, p string) cue.Value {
	if isIndex(strings.Trim(p, "[]")) {
		return v.LookupPath(cue.MakePath(cue.AnyIndex))
	}
	for _, s := range []cue.Selector{cue.Str(p), cue.Str(p).Optional(), cue.Str(p).Required()} {
		if w := v.LookupPath(cue.MakePath(s)); w.Exists() {
			return w
		}
	}
	return v.LookupPath(cue.MakePath(cue.AnyString))
}

// closest returns the candidate within two edits of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
