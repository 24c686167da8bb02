package schema

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue/ast"
	"github.com/robfig/cron/v3"
)

// CronParser parses canary windows and blackouts: five fields (minute,
// hour, day of month, month, day of week) or a descriptor such as @daily.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func validateServices(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		v := serviceValidator{name: name, svc: in.Services[name], pos: pos, gateways: in.Gateways}
		errs = append(errs, v.validate()...)
	}
	errs = append(errs, validateHosts(in, pos)...)
	return errs
}

type serviceValidator struct {
	name     string
	svc      *Service
	pos      posFunc
	gateways map[string]*Gateway
	errs     Errors
}

// add records an error at the path below services.NAME.
func (v *serviceValidator) add(path []any, msg, hint string) {
	full := append([]any{"services", v.name}, path...)
	v.errs = append(v.errs, Error{Pos: v.pos(full...), Path: pathOf(full), Msg: msg, Hint: hint})
}

func (v *serviceValidator) validate() Errors {
	svc := v.svc
	splits := 0
	for i, r := range svc.Routes {
		if v.route(i, r) {
			splits++
		}
	}
	v.policy([]any{"policy"}, svc.Policy)
	for _, ver := range slices.Sorted(maps.Keys(svc.Versions)) {
		v.policy([]any{"versions", ver, "policy"}, svc.Versions[ver].Policy)
	}
	if svc.Retries != nil {
		v.retries([]any{"retries"}, svc.Timeout, svc.Retries)
	}
	if svc.Canary != nil {
		v.canary(splits)
	}
	for i, g := range svc.Gateways {
		v.gateway([]any{"gateways", i}, g, true)
	}
	seen := map[string]int{}
	for i, e := range svc.Expose {
		v.gateway([]any{"expose", i, "gateway"}, e.Gateway, false)
		if j, ok := seen[e.Gateway]; ok {
			v.add([]any{"expose", i, "gateway"}, fmt.Sprintf("gateway %s is already used by expose[%d]", e.Gateway, j), "list the hosts and paths of one gateway in one entry")
		}
		seen[e.Gateway] = i
	}
	return v.errs
}

// gateway checks a reference to a gateway intent; "mesh" stands for the
// sidecars where a list of gateways allows it.
func (v *serviceValidator) gateway(path []any, name string, meshOK bool) {
	if name == "mesh" && meshOK {
		return
	}
	if _, ok := v.gateways[name]; ok {
		return
	}
	hint := "declare it under gateways"
	if len(v.gateways) > 0 {
		hint = "declared gateways: " + strings.Join(slices.Sorted(maps.Keys(v.gateways)), ", ")
	}
	if meshOK {
		hint += `; "mesh" stands for the sidecars`
	}
	v.add(path, fmt.Sprintf("gateway %q is not declared", name), hint)
}

func (v *serviceValidator) version(path []any, name string) {
	if _, ok := v.svc.Versions[name]; !ok {
		hint := "declare it under versions, with the labels of its pods"
		if len(v.svc.Versions) > 0 {
			hint = "declared versions: " + strings.Join(slices.Sorted(maps.Keys(v.svc.Versions)), ", ")
		}
		v.add(path, fmt.Sprintf("version %q is not declared in services.%s.versions", name, v.name), hint)
	}
}

// route checks one route and reports whether it takes the canary split.
func (v *serviceValidator) route(i int, r Route) (split bool) {
	at := func(p ...any) []any { return append([]any{"routes", i}, p...) }
	var targets []string
	if r.To != nil {
		targets = append(targets, "to")
	}
	if r.Destinations != nil {
		targets = append(targets, "destinations")
	}
	if r.Redirect != nil {
		targets = append(targets, "redirect")
	}
	switch {
	case len(targets) > 1:
		v.add(at(), "route sets "+strings.Join(targets, " and "), "a route goes to versions (to), to other hosts (destinations) or redirects: keep one")
	case len(targets) == 0 && v.svc.Canary == nil:
		v.add(at(), "route has nowhere to go", "set to (weights by version), destinations (other hosts) or redirect")
	case len(targets) == 0:
		split = true
	}
	if r.To != nil {
		sum := 0
		for _, ver := range slices.Sorted(maps.Keys(r.To)) {
			sum += r.To[ver]
			v.version(at("to", ver), ver)
		}
		if sum != 100 {
			v.add(at("to"), fmt.Sprintf("weights add up to %d, want 100", sum), "give the versions weights in percent that add up to 100")
		}
	}
	if r.Destinations != nil {
		sum := 0
		for j, d := range r.Destinations {
			sum += d.Weight
			if d.Version != "" && v.ownHost(d.Host) {
				v.version(at("destinations", j, "version"), d.Version)
			}
		}
		if sum != 100 {
			v.add(at("destinations"), fmt.Sprintf("weights add up to %d, want 100", sum), "give the destinations weights in percent that add up to 100")
		}
	}
	if r.Redirect != nil && (r.Rewrite != nil || r.Mirror != nil || r.Fault != nil || r.Retries != nil) {
		v.add(at("redirect"), "a redirect is answered by the proxy, so rewrite, mirror, fault and retries do not apply", "remove them, or route instead of redirecting")
	}
	if r.Mirror != nil {
		switch {
		case r.Mirror.Host == "" && r.Mirror.Version == "":
			v.add(at("mirror"), "mirror has no destination", "set host (another service) or version (of this service)")
		case r.Mirror.Version != "" && (r.Mirror.Host == "" || v.ownHost(r.Mirror.Host)):
			v.version(at("mirror", "version"), r.Mirror.Version)
		}
	}
	for j, m := range r.Match {
		for k, g := range m.Gateways {
			v.gateway(at("match", j, "gateways", k), g, true)
		}
	}
	if len(r.Match) == 0 && i < len(v.svc.Routes)-1 {
		v.add(at(), fmt.Sprintf("route without match is followed by %d more route(s), which can never be reached", len(v.svc.Routes)-1-i),
			"move the route without match to the end of the list: it is the default route")
	}
	timeout := r.Timeout
	if timeout == nil {
		timeout = v.svc.Timeout
	}
	if r.Retries != nil {
		v.retries(at("retries"), timeout, r.Retries)
	} else if r.Timeout != nil && v.svc.Retries != nil {
		v.retries(at("timeout"), timeout, v.svc.Retries)
	}
	return split
}

func (v *serviceValidator) ownHost(host string) bool {
	return host == v.name || host == v.svc.Host || host == fqdn(v.name, v.svc.Namespace)
}

func (v *serviceValidator) retries(path []any, timeout *time.Duration, r *Retries) {
	if r.PerTryTimeout == nil || timeout == nil {
		return
	}
	if *r.PerTryTimeout > *timeout {
		v.add(path, fmt.Sprintf("perTryTimeout %s is longer than the route's timeout %s, so a retry can never happen", formatDuration(*r.PerTryTimeout), formatDuration(*timeout)),
			"make perTryTimeout shorter than the timeout (at most timeout / attempts to give every attempt its time)")
	}
}

// deprecated maps a deprecated Istio traffic-policy field, by its path
// below a policy, to what replaces it.
var deprecated = []struct {
	path []string
	use  string
}{
	{[]string{"outlierDetection", "consecutiveErrors"}, "consecutive5xxErrors (any 5xx) or consecutiveGatewayErrors (502, 503, 504); Istio ignores consecutiveErrors"},
	{[]string{"loadBalancer", "warmupDurationSecs"}, "loadBalancer.warmup.duration"},
	{[]string{"loadBalancer", "consistentHash", "minimumRingSize"}, "loadBalancer.consistentHash.ringHash.minimumRingSize"},
}

// policy checks a traffic policy and its port-level settings.
func (v *serviceValidator) policy(path []any, p Policy) {
	if p == nil {
		return
	}
	eachPolicyLevel(p, path, v.policyLevel)
}

// eachPolicyLevel calls fn with a traffic policy and with each of its
// port-level settings, and their paths.
func eachPolicyLevel(p map[string]any, path []any, fn func(path []any, level map[string]any)) {
	fn(path, p)
	ports, _ := p["portLevelSettings"].([]any)
	for i, pl := range ports {
		if m, ok := pl.(map[string]any); ok {
			fn(meshJoin(path, "portLevelSettings", i), m)
		}
	}
}

func (v *serviceValidator) policyLevel(path []any, p map[string]any) {
	at := func(p ...any) []any { return append(append([]any{}, path...), p...) }
	for _, d := range deprecated {
		if lookup(p, d.path...) != nil {
			p := make([]any, len(d.path))
			for i, s := range d.path {
				p[i] = s
			}
			v.add(at(p...), d.path[len(d.path)-1]+" is deprecated", "use "+d.use)
		}
	}
	if lookup(p, "loadBalancer", "simple") == "LEAST_CONN" {
		v.add(at("loadBalancer", "simple"), "LEAST_CONN is deprecated", "use LEAST_REQUEST")
	}
	if lookup(p, "loadBalancer", "simple") != nil && lookup(p, "loadBalancer", "consistentHash") != nil {
		v.add(at("loadBalancer"), "simple and consistentHash are both set, but they are alternatives: Istio rejects the object",
			"keep simple for an algorithm such as LEAST_REQUEST, or consistentHash for session affinity, not both")
	}
	if ch, ok := lookup(p, "loadBalancer", "consistentHash").(map[string]any); ok {
		var keys []string
		for _, k := range []string{"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"} {
			if ch[k] != nil {
				keys = append(keys, k)
			}
		}
		if len(keys) != 1 {
			v.add(at("loadBalancer", "consistentHash"), fmt.Sprintf("consistentHash hashes on %d keys (%s), want exactly one", len(keys), strings.Join(keys, ", ")),
				"hash on one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName")
		}
		if ch["ringHash"] != nil && ch["maglev"] != nil {
			v.add(at("loadBalancer", "consistentHash"), "ringHash and maglev are both set, but they are alternatives", "keep one hash algorithm")
		}
	}
	if lookup(p, "tls", "mode") == "MUTUAL" && lookup(p, "tls", "credentialName") == nil &&
		(lookup(p, "tls", "clientCertificate") == nil || lookup(p, "tls", "privateKey") == nil) {
		v.add(at("tls"), "MUTUAL TLS needs a client certificate", "set credentialName (a Secret) or clientCertificate and privateKey (files in the sidecar)")
	}
}

// lookup walks nested maps; nil when a step is missing.
func lookup(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func (v *serviceValidator) canary(splits int) {
	c := v.svc.Canary
	at := func(p ...any) []any { return append([]any{"canary"}, p...) }
	v.version(at("stable"), c.Stable)
	if c.Candidate != "" { // none: the canary is at rest
		v.version(at("candidate"), c.Candidate)
	}
	if c.Stable == c.Candidate {
		v.add(at("candidate"), fmt.Sprintf("candidate and stable are both %q", c.Stable), "name the new version as candidate")
	}
	for i := range c.Steps {
		if i > 0 && c.Steps[i] <= c.Steps[i-1] {
			v.add(at("steps", i), fmt.Sprintf("step %d (%d%%) is not above the step before it (%d%%)", i+1, c.Steps[i], c.Steps[i-1]), "steps are the candidate's weights, strictly increasing")
		}
	}
	if n := len(c.Steps); n > 0 && c.Steps[n-1] != 100 {
		v.add(at("steps"), fmt.Sprintf("the last step is %d%%, want 100", c.Steps[n-1]), "end with 100: the candidate takes all traffic before it becomes stable")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		v.add(at("timeZone"), fmt.Sprintf("unknown time zone %q", c.TimeZone), "use an IANA name such as Europe/Berlin or America/New_York")
	}
	if c.Window != "" {
		if _, err := CronParser.Parse(c.Window); err != nil {
			v.add(at("window"), fmt.Sprintf("window %q: %v", c.Window, err), `five fields: minute hour day-of-month month day-of-week, such as "* 9-17 * * 1-5"`)
		}
	}
	for i, b := range c.Blackouts {
		if _, err := CronParser.Parse(b.Start); err != nil {
			v.add(at("blackouts", i, "start"), fmt.Sprintf("blackout start %q: %v", b.Start, err), `five fields, such as "0 18 * * 5" for Fridays at 18:00`)
		}
	}
	if c.Approval != nil {
		steps := map[int]bool{}
		for _, s := range c.Steps {
			steps[s] = true
		}
		for i, w := range c.Approval.AtWeights {
			if !steps[w] {
				v.add(at("approval", "atWeights", i), fmt.Sprintf("%d%% is not one of the steps", w), "approvals are asked for at steps: pick weights from steps")
			}
		}
	}
	if splits == 0 {
		v.add(at(), "no route takes the canary's split", "leave to and destinations out of the route that the canary moves (usually the default route)")
	}
}

// validateHosts reports a host that two services claim: two VirtualServices
// for one host are merged unpredictably by Istio.
func validateHosts(in *Intents, pos posFunc) Errors {
	var errs Errors
	owner := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(in.Services)) {
		svc := in.Services[name]
		hosts := append([]string{svc.Host}, svc.Hosts...)
		if svc.Host == "" {
			hosts[0] = name
		}
		for i, h := range hosts {
			key := fqdn(h, svc.Namespace)
			if other, ok := owner[key]; ok && other != name {
				path := []any{"services", name, "host"}
				if i > 0 {
					path = []any{"services", name, "hosts", i - 1}
				} else if svc.Host == "" {
					path = []any{"services", name}
				}
				errs = append(errs, Error{
					Pos: pos(path...), Path: pathOf(path),
					Msg:  fmt.Sprintf("host %s is already claimed by services.%s", h, other),
					Hint: "one service owns a host: merge the routes into one service, or give this one another host",
				})
				continue
			}
			owner[key] = name
		}
	}
	return errs
}

// fqdn makes short service names comparable with full ones.
func fqdn(host, namespace string) string {
	if strings.Contains(host, ".") {
		return host
	}
	return host + "." + namespace + ".svc.cluster.local"
}

// pathOf prints a field path the way a user writes it.
func pathOf(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if !ast.IsValidIdent(p) {
				fmt.Fprintf(&b, "%q", p)
			} else {
				b.WriteString(p)
			}
		}
	}
	return b.String()
}
