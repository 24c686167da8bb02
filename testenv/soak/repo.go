package soak

import (
	"fmt"
	"strings"
)

// Teams is how many teams (and namespaces, team-00 ..) the services of a
// templated repository are spread over.
const Teams = 20

// Repo is an intent repository of n services written the way a large
// organisation writes one: the house defaults once, as a pattern
// constraint on every service; one file per team that only lists its
// services' names; and a comprehension that declares a service for every
// name, in its team's namespace. Files are keyed by path.
func Repo(n int) map[string]string {
	files := map[string]string{
		"fleet.cue":    "package intents\n\nfleet: clusters: {\n\tc1: wave: 1\n\tc2: wave: 2\n\tc3: wave: 2\n}\n",
		"defaults.cue": defaults,
		"services.cue": "package intents\n\n// Every name a team lists is a service in the team's namespace.\nfor team, names in _teams for name in names {\n\tservices: (name): namespace: team\n}\n",
		"change.cue":   Change(0, n),
	}
	for t := 0; t < Teams; t++ {
		var b strings.Builder
		fmt.Fprintf(&b, "package intents\n\n_teams: %q: [\n", Namespace(t))
		for i := t; i < n; i += Teams {
			fmt.Fprintf(&b, "\t%q,\n", Service(i))
		}
		b.WriteString("]\n")
		files[fmt.Sprintf("teams/%s.cue", Namespace(t))] = b.String()
	}
	return files
}

// defaults are the house rules every service gets unless it says otherwise.
const defaults = `package intents

services: [Name=_]: {
	versions: {
		v1: labels: {app: Name, version: "v1"}
		v2: labels: {app: Name, version: "v2"}
	}
	timeout: *"10s" | string
	retries: *{attempts: 2, perTryTimeout: "3s", retryOn: ["5xx", "reset", "connect-failure"]} | {...}
	policy: *{
		connectionPool: {tcp: maxConnections: 100, http: {http1MaxPendingRequests: 50, maxRequestsPerConnection: 10}}
		outlierDetection: {consecutive5xxErrors: 5, interval: "30s", baseEjectionTime: "30s", maxEjectionPercent: 50}
		loadBalancer: simple: "LEAST_REQUEST"
	} | {...}
	routes: *[
		{to: {v1: 90, v2: 10}},
	] | [...]
}
`

// Service is the name of the i-th service.
func Service(i int) string { return fmt.Sprintf("svc-%04d", i) }

// Namespace is the namespace of team t.
func Namespace(t int) string { return fmt.Sprintf("team-%02d", t) }

// NamespaceOf is the namespace of the i-th service.
func NamespaceOf(i int) string { return Namespace(i % Teams) }

// Change is the file change.cue of commit k: it moves one service (the
// k-th, in turn) off the default route to a weight of its own, so every
// commit changes two services (this one and the one before it, which
// goes back to the default) and nothing else.
func Change(k, n int) string {
	i, w := Changed(k, n)
	return fmt.Sprintf("package intents\n\n// commit %d\nservices: %q: routes: [{to: {v1: %d, v2: %d}}]\n", k, Service(i), 100-w, w)
}

// Changed is the service Change(k, n) changes and the weight of v2 it
// gives it: never the default's 10, so that the change is visible.
func Changed(k, n int) (service, weightV2 int) {
	return k % n, 11 + k%80
}
