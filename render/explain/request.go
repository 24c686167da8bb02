package explain

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Request is the request to explain, as its client sends it, and who
// that client is.
type Request struct {
	// Host is the Host (authority) header as sent, optionally with a
	// port: "reviews", "reviews.shop:9080", "api.example.com".
	Host string `json:"host"`
	// Port is the port the request is sent to; 0 takes it from Host, else
	// a default (see Explain).
	Port   int    `json:"port,omitempty"`
	Method string `json:"method"`
	// Path is the request's path, optionally with a query string.
	Path string `json:"path"`
	// Headers by lower-case name; a header sent twice has two values,
	// which Envoy matches joined by commas.
	Headers map[string][]string `json:"headers,omitempty"`
	// Query holds query parameters in addition to those of Path.
	Query map[string][]string `json:"query,omitempty"`

	// Gateway is the Gateway ("NAMESPACE/NAME") whose pods take the
	// request from outside the mesh; empty for a request that a sidecar
	// sends from inside the mesh.
	Gateway string `json:"gateway,omitempty"`
	// FromNamespace, Principal and SourceLabels describe the client
	// inside the mesh: its namespace, its mTLS identity
	// ("cluster.local/ns/NS/sa/SA") and its pod labels.
	FromNamespace string            `json:"fromNamespace,omitempty"`
	Principal     string            `json:"principal,omitempty"`
	SourceLabels  map[string]string `json:"sourceLabels,omitempty"`
	// SourceIP is the client's address, for ipBlocks and remoteIpBlocks;
	// unknown when empty.
	SourceIP string `json:"sourceIP,omitempty"`
	// GatewayPrincipal is the mTLS identity of the gateway's pods, which
	// the destinations see as the source of gateway traffic.
	GatewayPrincipal string `json:"gatewayPrincipal,omitempty"`
	// WorkloadLabels are labels of the destination's pods besides those
	// of its subset. When given, the pods are taken to carry exactly the
	// subset's labels and these; when not, other labels are unknown.
	WorkloadLabels map[string]string `json:"workloadLabels,omitempty"`

	// JWT is the payload of a token the request carries, taken to be
	// correctly signed and unexpired; nil when it carries none.
	JWT map[string]any `json:"jwt,omitempty"`
	// InvalidJWT says the request carries a token that fails validation.
	InvalidJWT bool `json:"invalidJWT,omitempty"`
}

// Defaults that Explain states as assumptions when it uses them.
const (
	defaultNamespace = "default"
	// gatewayServiceAccount is the service account of the ingress gateway
	// that Istio's installation creates.
	gatewayServiceAccount = "istio-ingressgateway-service-account"
)

// normalize checks r and fills in its defaults; the notes say which
// defaults stand for facts the caller did not give.
func (r Request) normalize() (Request, []string, error) {
	var notes []string
	if r.Host == "" {
		return r, nil, fmt.Errorf("request: no host")
	}
	host, port := splitHostPort(r.Host)
	if strings.ContainsAny(host, "/*? ") {
		return r, nil, fmt.Errorf("request host %q: want a host name, optionally with :PORT", r.Host)
	}
	if r.Port == 0 {
		r.Port = port
	}
	if r.Port < 0 || r.Port > 65535 {
		return r, nil, fmt.Errorf("request port %d: want 1-65535", r.Port)
	}
	r.Host = strings.ToLower(r.Host)
	if r.Method == "" {
		r.Method = "GET"
	}
	if r.Path == "" {
		r.Path = "/"
	}
	if !strings.HasPrefix(r.Path, "/") {
		return r, nil, fmt.Errorf("request path %q: want an absolute path, starting with /", r.Path)
	}
	headers := map[string][]string{}
	for name, values := range r.Headers {
		n := strings.ToLower(name)
		if n == "host" || strings.HasPrefix(n, ":") {
			return r, nil, fmt.Errorf("request header %q: give the host with the host, the method and path with theirs", name)
		}
		headers[n] = append(headers[n], values...)
	}
	r.Headers = headers
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	if r.Gateway != "" {
		ns, name, ok := strings.Cut(r.Gateway, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return r, nil, fmt.Errorf("request gateway %q: want NAMESPACE/NAME", r.Gateway)
		}
		if r.GatewayPrincipal == "" {
			r.GatewayPrincipal = "cluster.local/ns/" + ns + "/sa/" + gatewayServiceAccount
			notes = append(notes, fmt.Sprintf("the gateway's pods run in %s as %s, as Istio's installation makes them", ns, r.GatewayPrincipal))
		}
		if r.FromNamespace != "" || r.Principal != "" || len(r.SourceLabels) > 0 {
			return r, nil, fmt.Errorf("request: a client's namespace, principal or labels describe a client inside the mesh, not one that comes through gateway %s", r.Gateway)
		}
	} else {
		if sa, ok := serviceAccountOf(r.Principal); ok && r.FromNamespace == "" {
			// An identity names its namespace: cluster.local/ns/NS/sa/SA.
			r.FromNamespace, _, _ = strings.Cut(sa, "/")
		} else if ok && r.FromNamespace != strings.Split(sa, "/")[0] {
			return r, nil, fmt.Errorf("request: principal %s is of namespace %s, not %s: give one of them", r.Principal, strings.Split(sa, "/")[0], r.FromNamespace)
		}
		if r.FromNamespace == "" {
			r.FromNamespace = defaultNamespace
			notes = append(notes, "the client runs in namespace "+defaultNamespace)
		}
		if r.Principal == "" {
			r.Principal = "cluster.local/ns/" + r.FromNamespace + "/sa/default"
			notes = append(notes, "the client's identity is its namespace's default service account: "+r.Principal)
		}
	}
	if r.JWT != nil {
		if iss, _ := r.JWT["iss"].(string); iss == "" {
			return r, nil, fmt.Errorf("request token: the payload needs an issuer (iss)")
		}
		if r.InvalidJWT {
			return r, nil, fmt.Errorf("request token: a token is either valid (a payload) or invalid, not both")
		}
	}
	return r, notes, nil
}

// pathAndQuery splits the path from its query string and merges the
// query parameters of both, the path's first.
func (r *Request) pathAndQuery() (path string, query map[string][]string, err error) {
	path, raw, _ := strings.Cut(r.Path, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", nil, fmt.Errorf("request path %q: query: %w", r.Path, err)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Query)) {
		q[k] = append(q[k], r.Query[k]...)
	}
	return path, q, nil
}

// header is the value Envoy matches for a header: every value joined by
// commas; ok is false when the request does not carry it.
func (r *Request) header(name string) (string, bool) {
	v, ok := r.Headers[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	return strings.Join(v, ","), true
}

// principal is the request principal of the token ("ISS/SUB"), as Istio
// makes it.
func tokenPrincipal(payload map[string]any) string {
	iss, _ := payload["iss"].(string)
	sub, _ := payload["sub"].(string)
	return iss + "/" + sub
}
