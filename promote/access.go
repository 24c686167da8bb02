package promote

import authorizationv1 "k8s.io/api/authorization/v1"

// Access is what a decision about service reads and writes in the home
// cluster: Decide gets the service's state ConfigMap and updates it. A
// front end that decides on someone else's behalf (the page) checks that
// person against exactly these, so that the page grants what RBAC grants
// the CLI, and no more.
func (s *Store) Access(service string) []authorizationv1.ResourceAttributes {
	ref := func(verb string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: s.docs.Namespace, Verb: verb, Resource: "configmaps", Name: configMapName(service)}
	}
	return []authorizationv1.ResourceAttributes{ref("get"), ref("update")}
}
