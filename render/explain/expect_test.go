package explain

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDestinationClaim(t *testing.T) {
	for in, want := range map[string]string{
		"reviews":                             "reviews  100",
		"reviews:v2":                          "reviews v2 100",
		"Reviews:v2=25":                       "reviews v2 25",
		"reviews.shop.svc.cluster.local:v1=0": "reviews.shop.svc.cluster.local v1 0",
		"reviews:v2=101":                      `expected destination "reviews:v2=101": the share after = must be a percentage, 0-100`,
		":v2":                                 `expected destination ":v2": want SERVICE[:SUBSET][=PERCENT], e.g. reviews:v2 or reviews:v2=10`,
		"reviews:v2:v3":                       `expected destination "reviews:v2:v3": want SERVICE[:SUBSET][=PERCENT], e.g. reviews:v2 or reviews:v2=10`,
	} {
		c, err := ParseDestinationClaim(in)
		got := c.Service + " " + c.Subset + " " + itoa(c.Percent)
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("ParseDestinationClaim(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpectDestination(t *testing.T) {
	ex := &Explanation{Cluster: "c1", Outcome: "routed", Destinations: []Destination{
		{Host: "reviews", FQDN: "reviews.shop.svc.cluster.local", Subset: "v1", Weight: 75},
		{Host: "reviews", FQDN: "reviews.shop.svc.cluster.local", Subset: "v2", Weight: 25},
	}}
	var got []Expectation
	for _, s := range []string{"reviews:v2=25", "reviews.shop.svc.cluster.local", "reviews:v1", "ratings"} {
		c, err := ParseDestinationClaim(s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ex.ExpectDestination(c))
	}
	dests := "(destinations: reviews.shop.svc.cluster.local:v1 75%, reviews.shop.svc.cluster.local:v2 25%)"
	want := []Expectation{
		{Expect: "destination reviews:v2=25", Cluster: "c1", Held: true, Why: "it gets 25% of the request " + dests},
		{Expect: "destination reviews.shop.svc.cluster.local", Cluster: "c1", Held: true, Why: "it gets 100% of the request " + dests},
		{Expect: "destination reviews:v1", Cluster: "c1", Held: false, Why: "it gets 75% of the request " + dests},
		{Expect: "destination ratings", Cluster: "c1", Held: false, Why: "it gets 0% of the request " + dests},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	denied := &Explanation{Cluster: "c1", Outcome: "no-route", Verdict: Verdict{Authorization: Allow, Status: 404, Summary: "no route matches"}}
	c, _ := ParseDestinationClaim("reviews")
	if x := denied.ExpectDestination(c); x.Held || x.Why != "the request is not routed to a destination (no-route): no route matches" {
		t.Errorf("unrouted request: %+v", x)
	}
}
