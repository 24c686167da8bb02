package schema

// Intents is a repository's decoded intents at one commit. Every field but
// the fleet holds a kind of intents, listed in Kinds (kinds.go) in the
// same order.
type Intents struct {
	Fleet    Fleet               `json:"fleet"`
	Services map[string]*Service `json:"services"`

	// The mesh-wide intents (mesh_types.go).
	Gateways      map[string]*Gateway       `json:"gateways"`
	MTLS          map[string]*MTLS          `json:"mtls"`
	Authorization map[string]*Authorization `json:"authorization"`
	JWT           map[string]*JWT           `json:"jwt"`
	External      map[string]*External      `json:"external"`
	Raw           []RawObject               `json:"raw"`

	// Sources maps a named intent (Kind.Intent: "services/NAME") to the
	// file that declares it, relative to the repository path, for the
	// objects' annotations.
	Sources map[string]string `json:"-"`

	// Warnings are the problems found that do not stop the intents from
	// being applied (Error.Warning), each with its file:line:col; those
	// only a cluster's overrides cause name the cluster.
	Warnings Errors `json:"-"`

	// clusters holds the intents as a cluster with overrides sees them.
	clusters map[string]*Intents
}

// ForCluster returns the intents as the named cluster sees them: with its
// overrides unified in, or the shared intents when it has none.
func (in *Intents) ForCluster(name string) *Intents {
	if v, ok := in.clusters[name]; ok {
		return v
	}
	return in
}

// Fleet is the set of clusters the intents apply to.
type Fleet struct {
	Clusters map[string]Cluster `json:"clusters"`
}

// Cluster is one member of the fleet.
type Cluster struct {
	Labels map[string]string `json:"labels,omitempty"`
	Wave   int               `json:"wave"`
	// HasOverrides says that the cluster has overrides, which are unified
	// with the intents for it only; see Intents.ForCluster. They are not
	// decoded themselves: they may be partial, such as [_, {...}].
	HasOverrides bool `json:"-"`
}
