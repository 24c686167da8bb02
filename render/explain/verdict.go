package explain

import (
	"fmt"
	"strings"
)

// verdict sums up the request's fate from the gateway's authorization,
// the route's outcome and every destination's authorization. A request
// split over destinations that decide differently is neither allowed nor
// denied: it depends on the destination the split picks.
func (x *explainer) verdict() {
	v := &x.ex.Verdict
	if g := x.ex.Gateway; g != nil && g.Decision != Allow {
		// The gateway's jwt and authorization filters run before its
		// router: what it denies is never routed.
		v.Authorization = g.Decision
		if g.Decision == Deny {
			v.Status = g.Status
			v.Summary = fmt.Sprintf("denied (%d) at gateway %s: %s", g.Status, x.ex.Entry.Gateway, g.Reason)
			return
		}
		v.Summary = fmt.Sprintf("unknown at gateway %s: %s", x.ex.Entry.Gateway, g.Reason)
		return
	}
	if x.ex.Outcome != "routed" && x.ex.Outcome != "no-virtual-service" {
		// Nothing past the routing proxy decides: its own answer stands.
		v.Authorization = Allow
		switch {
		case v.Summary != "":
		case x.ex.Entry.Problem != "":
			v.Summary = "the gateway does not take the request: " + x.ex.Entry.Problem
		default:
			v.Summary = x.ex.Outcome
		}
		return
	}
	var allowed, denied, unknown, broken []string
	var denyStatus int
	for _, d := range x.ex.Destinations {
		name := d.FQDN
		if d.Subset != "" {
			name += " subset " + d.Subset
		}
		if len(x.ex.Destinations) > 1 {
			name += fmt.Sprintf(" (%d%%)", d.Weight)
		}
		switch {
		case d.Problem != "":
			broken = append(broken, name+": "+d.Problem)
		case d.External != "":
			allowed = append(allowed, name+" ("+d.External+")")
		case d.Authorization == nil:
			allowed = append(allowed, name)
		case d.Authorization.Decision == Allow:
			allowed = append(allowed, name)
		case d.Authorization.Decision == Deny:
			denied = append(denied, fmt.Sprintf("%s: %s", name, d.Authorization.Reason))
			denyStatus = d.Authorization.Status
		default:
			unknown = append(unknown, fmt.Sprintf("%s: %s", name, d.Authorization.Reason))
		}
	}
	switch {
	case len(denied) > 0 && len(allowed)+len(unknown) == 0:
		v.Authorization, v.Status = Deny, denyStatus
		v.Summary = fmt.Sprintf("denied (%d) at %s", denyStatus, strings.Join(denied, "; "))
	case len(unknown) > 0 || len(denied) > 0 && len(allowed) > 0:
		v.Authorization = UnknownResult
		parts := append(append([]string{}, unknown...), denied...)
		if len(allowed) > 0 {
			parts = append(parts, "allowed at "+strings.Join(allowed, ", "))
		}
		if len(unknown) > 0 {
			v.Summary = "cannot be told offline: " + strings.Join(parts, "; ")
		} else {
			v.Summary = "depends on the destination the split picks: " + strings.Join(parts, "; ")
		}
	case len(allowed) > 0:
		v.Authorization = Allow
		v.Summary = "allowed: routed to " + strings.Join(allowed, ", ")
	default:
		v.Authorization = Allow
	}
	if len(broken) > 0 {
		if v.Status == 0 && len(allowed) == 0 {
			v.Status = 503
		}
		if v.Summary != "" {
			v.Summary += "; "
		}
		v.Summary += "no answer from " + strings.Join(broken, "; ")
	}
}
