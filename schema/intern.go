package schema

import "reflect"

// Intern makes in share every service that prev (an earlier commit's
// intents, or nil) declares with equal content, and makes each cluster
// view share the services it sees as the fleet does: an unchanged service
// is then the same *Service from commit to commit and from cluster to
// cluster. Render keeps its objects by that pointer (render.Renderer), so a
// commit renders only the services that changed, and two commits held at
// once cost one copy of what they have in common. Nothing changes a
// loaded Service, which is what makes sharing one safe.
func (in *Intents) Intern(prev *Intents) {
	if in == nil {
		return
	}
	if prev != nil {
		internServices(in.Services, prev.Services)
	}
	for name, view := range in.clusters {
		internServices(view.Services, in.Services)
		if prev != nil {
			if pv, ok := prev.clusters[name]; ok {
				internServices(view.Services, pv.Services)
			}
		}
	}
}

// internServices replaces each service of m that equals the one of the
// same name in prev with prev's.
func internServices(m, prev map[string]*Service) {
	for name, s := range m {
		if p, ok := prev[name]; ok && p != s && reflect.DeepEqual(p, s) {
			m[name] = p
		}
	}
}
