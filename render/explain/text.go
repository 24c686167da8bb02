package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes an explanation for people: what took the request and
// why, in the order the proxies on the way decide.
func (e *Explanation) WriteText(w io.Writer) error {
	req := e.Request
	p := &printer{w: w}
	title := "cluster " + e.Cluster
	if e.Cluster == "" {
		title = "every cluster (no fleet)"
	}
	if e.Wave != 0 {
		title += fmt.Sprintf(" (wave %d)", e.Wave)
	}
	if c := e.Commit; c != "" {
		title += " at commit " + c[:min(len(c), 7)]
	}
	p.line(0, "%s", title)
	p.line(1, "request:  %s %s%s, %s", req.Method, req.Host, req.Path, e.entryText())
	if e.Entry.Problem != "" {
		p.line(2, "not taken: %s", e.Entry.Problem)
	}
	if g := e.Gateway; g != nil {
		p.line(1, "at the gateway:")
		p.hop(2, g)
	}
	if len(e.VirtualServices) > 0 {
		p.line(1, "virtual services for the host:")
		for _, c := range e.VirtualServices {
			mark := "skipped"
			if c.Used {
				mark = "used"
			}
			p.line(2, "%-7s %s (host %s%s): %s", mark, c.VirtualService, c.Host, sourceText(c.VirtualService), c.Why)
		}
	}
	if len(e.Routes) > 0 {
		p.line(1, "routes, in order (the first that matches wins):")
		for _, r := range e.Routes {
			name := fmt.Sprintf("%s route %d", r.VirtualService, r.Index)
			if r.Name != "" {
				name += " (" + r.Name + ")"
			}
			if r.Matched {
				p.line(2, "match   %s: %s", name, strings.Join(r.Conditions, "; "))
			} else {
				p.line(2, "no      %s: %s", name, strings.Join(r.Conditions, "; "))
			}
		}
	}
	if r := e.Route; r != nil {
		p.route(r)
	}
	p.line(1, "outcome:  %s", e.Outcome)
	if len(e.Destinations) > 0 {
		p.line(1, "destinations:")
		for _, d := range e.Destinations {
			p.destination(d)
		}
	}
	p.line(1, "verdict:  %s: %s", e.Verdict.Authorization, e.Verdict.Summary)
	if e.Verdict.Status != 0 {
		p.line(2, "the proxy answers %d", e.Verdict.Status)
	}
	if len(e.Assumptions) > 0 {
		p.line(1, "assumed:")
		for _, a := range e.Assumptions {
			p.line(2, "- %s", a)
		}
	}
	return p.err
}

func (e *Explanation) entryText() string {
	if e.Entry.Via == "mesh" {
		return fmt.Sprintf("from inside the mesh, port %d, routed by the names %s", e.Entry.Port, strings.Join(e.Entry.Names, ", "))
	}
	s := "through a gateway"
	if e.Entry.Gateway != nil {
		s = "through gateway " + e.Entry.Gateway.String()
	}
	if e.Entry.Server != "" {
		s += fmt.Sprintf(", server %s (%s)", e.Entry.Server, e.Entry.Protocol)
	}
	return s + fmt.Sprintf(", port %d", e.Entry.Port)
}

func sourceText(r Ref) string {
	if r.Source == "" || r.Source == "unknown" {
		return ""
	}
	return ", from " + r.Source
}

// printer writes indented lines and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(depth int, format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, "%s%s\n", strings.Repeat("  ", depth), fmt.Sprintf(format, args...))
}

func (p *printer) route(r *Route) {
	name := fmt.Sprintf("%s route %d", r.VirtualService, r.Index)
	if r.Name != "" {
		name += " (" + r.Name + ")"
	}
	p.line(1, "route:    %s%s", name, sourceText(r.VirtualService))
	if r.Problem != "" {
		p.line(2, "problem:  %s", r.Problem)
	}
	if r.Redirect != "" {
		p.line(2, "redirect: %s", r.Redirect)
	}
	if r.Timeout != "" {
		p.line(2, "timeout:  %s", r.Timeout)
	}
	if r.Retries != "" {
		p.line(2, "retries:  %s", r.Retries)
	}
	for _, f := range r.Fault {
		p.line(2, "fault:    %s", f)
	}
	for _, m := range r.Mirror {
		p.line(2, "mirror:   %s", m)
	}
	if r.Rewrite != "" {
		p.line(2, "rewrite:  %s", r.Rewrite)
	}
	for _, h := range r.Headers {
		p.line(2, "headers:  %s", h)
	}
	if r.CORS != "" {
		p.line(2, "cors:     %s", r.CORS)
	}
	if c := r.Canary; c != nil {
		p.line(2, "canary:   %s %s at %d%%, %s %d%% (%s)", c.Service, c.Candidate, c.Weight, c.Stable, 100-c.Weight, c.Source)
	}
}

func (p *printer) destination(d Destination) {
	name := d.FQDN
	if d.Subset != "" {
		name += " subset " + d.Subset
	}
	if d.Port != 0 {
		name += fmt.Sprintf(" port %d", d.Port)
	}
	if d.Role != "" {
		name += " (" + d.Role + ")"
	}
	p.line(2, "%3d%%  %s", d.Weight, name)
	if d.Problem != "" {
		p.line(4, "problem: %s", d.Problem)
	}
	if d.External != "" {
		p.line(4, "host: %s", d.External)
	}
	if pol := d.Policy; pol != nil {
		if pol.DestinationRule == nil {
			p.line(4, "policy: no DestinationRule: Envoy's defaults (round robin, no connection limits, no outlier detection)")
		} else {
			p.line(4, "policy: DestinationRule %s%s", pol.DestinationRule, sourceText(*pol.DestinationRule))
			for _, k := range sortedKeys(pol.Settings) {
				s := pol.Settings[k]
				b, err := json.Marshal(s.Value)
				if err != nil {
					b = []byte(fmt.Sprint(s.Value))
				}
				p.line(5, "%s: %s (%s)", k, b, s.From)
			}
			if len(pol.Settings) == 0 {
				p.line(5, "it sets no traffic policy for this destination: Envoy's defaults")
			}
		}
		for _, i := range pol.Ignored {
			p.line(5, "not used: %s", i)
		}
	}
	if h := d.Authorization; h != nil {
		p.line(4, "at its pods:")
		p.hop(5, h)
	}
}

func (p *printer) hop(depth int, h *Hop) {
	status := ""
	if h.Status != 0 {
		status = fmt.Sprintf(" (%d)", h.Status)
	}
	p.line(depth, "authorization: %s%s: %s", h.Decision, status, h.Reason)
	p.line(depth+1, "workload: %s, namespace %s", h.Workload, h.Namespace)
	p.line(depth+1, "source: %s", h.Source)
	if h.MTLS != "" {
		p.line(depth+1, "mTLS: %s", h.MTLS)
	}
	p.line(depth+1, "token: %s", h.JWT.Token)
	if h.JWT.Principal != "" {
		p.line(depth+1, "request principal: %s", h.JWT.Principal)
	}
	if h.JWT.Required != "" {
		p.line(depth+1, "token required: %s", h.JWT.Required)
	}
	for _, pc := range h.Policies {
		p.line(depth+1, "%s policy %s%s, for %s: applies %s", pc.Action, pc.Policy, sourceText(pc.Policy), pc.Scope, pc.Applies)
		for _, r := range pc.Rules {
			p.line(depth+2, "rule %d matches %s: %s", r.Index, r.Matches, strings.Join(r.Conditions, "; "))
		}
	}
}
