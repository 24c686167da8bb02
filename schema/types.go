package schema

// Intents is a repository's decoded intents at one commit.
type Intents struct {
	Fleet    Fleet               `json:"fleet"`
	Services map[string]*Service `json:"services"`

	// Sources maps an intent ("services/NAME") to the file that declares it,
	// relative to the repository path, for the objects' annotations.
	Sources map[string]string `json:"-"`
}

// Fleet is the set of clusters the intents apply to.
type Fleet struct {
	Clusters map[string]Cluster `json:"clusters"`
}

// Cluster is one member of the fleet.
type Cluster struct {
	Labels map[string]string `json:"labels,omitempty"`
	Wave   int               `json:"wave"`
}
