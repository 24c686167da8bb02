package schema

import "maps"

// ClusterViews returns the intents of every cluster that has overrides,
// by cluster name, as ForCluster gives them. Together with
// SetClusterView it lets intents loaded in another process (schema/bounded
// evaluates in a child process) carry their views across.
func (in *Intents) ClusterViews() map[string]*Intents { return maps.Clone(in.clusters) }

// SetClusterView records view as the intents that the named cluster sees
// (what ForCluster returns for it).
func (in *Intents) SetClusterView(name string, view *Intents) {
	if in.clusters == nil {
		in.clusters = map[string]*Intents{}
	}
	in.clusters[name] = view
}
