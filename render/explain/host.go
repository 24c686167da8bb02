package explain

import "strings"

// What explain assumes of every cluster, as Istio's defaults have it.
const (
	// ClusterDomain is the Kubernetes cluster domain: short names expand
	// to NAME.NAMESPACE.svc.ClusterDomain.
	ClusterDomain = "cluster.local"
	// RootNamespace is Istio's root namespace: policies there apply to
	// the whole mesh.
	RootNamespace = "istio-system"
)

// fqdn is what Istio makes of a host written in an object of namespace
// ns: a short name (no dot) is a service of that namespace; anything with
// a dot is taken as written.
func fqdn(host, ns string) string {
	host = strings.ToLower(host)
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + ".svc." + ClusterDomain
}

// meshNames are the names a request for host is routed by on a sidecar in
// namespace fromNS: the host as sent, and the service name it stands for
// through the cluster's DNS search path (NAME, NAME.NS, NAME.NS.svc).
// Istio gives a service's routes exactly these aliases (the bare name
// only to clients in the service's namespace), so expanding the request
// is the same as expanding every route's host.
func meshNames(host, fromNS string) []string {
	names := []string{host}
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1:
		names = append(names, host+"."+fromNS+".svc."+ClusterDomain)
	case len(parts) == 2:
		names = append(names, host+".svc."+ClusterDomain)
	case len(parts) == 3 && parts[2] == "svc":
		names = append(names, host+"."+ClusterDomain)
	}
	return names
}

// hostMatch reports whether an Istio host pattern covers a concrete name:
// "*" covers every name, "*.example.com" every name ending in
// ".example.com" (at any depth, as Envoy's suffix wildcards do), anything
// else only itself.
func hostMatch(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(name, suffix) && len(name) > len(suffix)
	}
	return pattern == name
}

// specificity ranks host patterns as Envoy picks among virtual hosts: an
// exact name before any wildcard, a longer wildcard suffix before a
// shorter one, "*" last.
func specificity(pattern string) int {
	if !strings.HasPrefix(pattern, "*") {
		return 1 << 20
	}
	return len(pattern) - 1
}

// serviceNamespace is the namespace of a cluster-local service name
// (NAME.NS.svc.cluster.local); ok is false for any other host.
func serviceNamespace(host string) (string, bool) {
	rest, ok := strings.CutSuffix(host, ".svc."+ClusterDomain)
	if !ok {
		return "", false
	}
	name, ns, ok := strings.Cut(rest, ".")
	if !ok || name == "" || ns == "" || strings.Contains(ns, ".") {
		return "", false
	}
	return ns, true
}

// splitHostPort separates an optional port from a host as a client sends
// it ("reviews:9080"); port is 0 when there is none.
func splitHostPort(hostport string) (host string, port int) {
	host = hostport
	if i := strings.LastIndexByte(hostport, ':'); i > 0 && !strings.Contains(hostport[i:], "]") {
		p := 0
		for _, c := range hostport[i+1:] {
			if c < '0' || c > '9' || p > 65535 {
				return hostport, 0
			}
			p = p*10 + int(c-'0')
		}
		if p > 0 && p <= 65535 {
			return hostport[:i], p
		}
	}
	return host, 0
}
