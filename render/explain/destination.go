package explain

import (
	"fmt"
	"maps"
)

// destination fills in what applies to one destination of the route: the
// DestinationRule policy that its sidecar (or the gateway) uses to reach
// it, and the authorization at its pods.
func (x *explainer) destination(d *Destination, r *routed, t tokenState) {
	pol, subsetLabels := x.policy(d, r.by.namespace)
	d.Policy = pol
	ns, inCluster := serviceNamespace(d.FQDN)
	if !inCluster && d.External == "" {
		d.External = x.external(d.FQDN, d.Port)
	}
	if !inCluster || d.Problem != "" {
		// The request never reaches pods of the mesh whose policies
		// explain could read.
		return
	}
	labels := map[string]string{}
	maps.Copy(labels, subsetLabels)
	maps.Copy(labels, x.req.WorkloadLabels)
	what := "pods of " + d.FQDN
	if d.Subset != "" {
		what += " subset " + d.Subset
	}
	wl := workload{what: what, namespace: ns, labels: labels, complete: x.req.WorkloadLabels != nil}
	x.assume("the destinations' pods run Istio's sidecar, which enforces their authorization")
	var src source
	if r.by.gateway == "mesh" {
		src = source{what: "the client", principal: x.req.Principal, namespace: x.req.FromNamespace, ip: x.req.SourceIP}
	} else {
		gwNS := r.by.namespace
		src = source{what: "gateway " + r.by.gateway, principal: x.req.GatewayPrincipal, namespace: gwNS}
		// Behind a gateway the peer is the gateway's pod; the client's
		// address reaches the destination only as remote.ip.
	}
	hop, _ := x.authorize(wl, src, r, t)
	d.Authorization = hop
	if hop.Decision != Allow && len(subsetLabels) == 0 && x.req.WorkloadLabels == nil {
		x.assume(fmt.Sprintf("the labels of the pods of %s are unknown besides their subset's (--workload-label to give them)", d.FQDN))
	}
}
