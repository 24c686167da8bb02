package explain

import (
	"fmt"
	"strconv"
	"strings"
)

// Expectation is a claim about a request that a CI check makes ("this
// request must be denied", "it must reach v2"), and whether it holds in
// one cluster.
type Expectation struct {
	// Expect is the claim as given: "allow", "deny", or
	// "destination SERVICE[:SUBSET][=PERCENT]".
	Expect  string `json:"expect"`
	Cluster string `json:"cluster"`
	Held    bool   `json:"held"`
	Why     string `json:"why"`
}

// ParseDecision reads an --expect value.
func ParseDecision(s string) (Decision, error) {
	switch d := Decision(strings.ToLower(s)); d {
	case Allow, Deny:
		return d, nil
	}
	return "", fmt.Errorf("expectation %q: want allow or deny", s)
}

// DestinationClaim is "the request goes to this destination": a service
// (its short name, its name as the route writes it, or its FQDN), a subset
// when given, with the whole request unless Percent says which share.
type DestinationClaim struct {
	Service string
	Subset  string
	// Percent is the share the destination must get; 100 when not given.
	Percent int
	text    string
}

// ParseDestinationClaim reads "SERVICE[:SUBSET][=PERCENT]".
func ParseDestinationClaim(s string) (DestinationClaim, error) {
	c := DestinationClaim{Percent: 100, text: s}
	rest, pct, hasPct := strings.Cut(s, "=")
	if hasPct {
		n, err := strconv.Atoi(pct)
		if err != nil || n < 0 || n > 100 {
			return c, fmt.Errorf("expected destination %q: the share after = must be a percentage, 0-100", s)
		}
		c.Percent = n
	}
	c.Service, c.Subset, _ = strings.Cut(rest, ":")
	if c.Service == "" || strings.ContainsAny(c.Service, " /") || strings.Contains(c.Subset, ":") {
		return c, fmt.Errorf("expected destination %q: want SERVICE[:SUBSET][=PERCENT], e.g. reviews:v2 or reviews:v2=10", s)
	}
	c.Service = strings.ToLower(c.Service)
	return c, nil
}

// ExpectDecision checks the authorization verdict.
func (e *Explanation) ExpectDecision(want Decision) Expectation {
	x := Expectation{Expect: string(want), Cluster: e.Cluster, Held: e.Verdict.Authorization == want}
	x.Why = e.Verdict.Summary
	return x
}

// ExpectDestination checks that the request is routed and that the
// claimed destination gets the claimed share of it.
func (e *Explanation) ExpectDestination(c DestinationClaim) Expectation {
	x := Expectation{Expect: "destination " + c.text, Cluster: e.Cluster}
	if e.Outcome != "routed" && e.Outcome != "no-virtual-service" {
		x.Why = fmt.Sprintf("the request is not routed to a destination (%s): %s", e.Outcome, e.Verdict.Summary)
		return x
	}
	got := 0
	var all []string
	for _, d := range e.Destinations {
		name := d.FQDN
		if d.Subset != "" {
			name += ":" + d.Subset
		}
		all = append(all, fmt.Sprintf("%s %d%%", name, d.Weight))
		if c.names(d) && (c.Subset == "" || c.Subset == d.Subset) {
			got += d.Weight
		}
	}
	x.Held = got == c.Percent
	x.Why = fmt.Sprintf("it gets %d%% of the request (destinations: %s)", got, strings.Join(all, ", "))
	return x
}

// names reports whether the claim's service is the destination's host.
func (c DestinationClaim) names(d Destination) bool {
	short, _, _ := strings.Cut(d.FQDN, ".")
	return c.Service == d.FQDN || c.Service == strings.ToLower(d.Host) || c.Service == short
}
