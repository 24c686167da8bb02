package apply

// Options tune how a cluster is applied. The zero value is the safe
// default: refuse to prune more than half of a cluster's inventory at
// once.
type Options struct {
	// PruneMaxShare is the largest share (0 to 1) of a cluster's inventory
	// that one sync may prune. A prune that would delete more is refused,
	// deletes nothing and is reported on every sync until the setting
	// allows it. 0 means DefaultPruneMaxShare; 1 allows any prune.
	PruneMaxShare float64
	// Workers bounds the requests in flight per cluster; 0 means
	// DefaultWorkers. Objects of one kind are applied concurrently, kinds
	// one after the other in render's order.
	Workers int
	// ParentNamespace and ParentName locate the ApplySet parent ConfigMap
	// in every cluster; empty means DefaultParentNamespace and
	// DefaultParentName. Two sailplan instances that manage different
	// repositories in the same clusters need different parents: each
	// prunes only its own ApplySet.
	ParentNamespace, ParentName string
	// Commit, when set, is the commit being applied: it goes into the
	// sailplan.dev/commit annotation of every object whose content the
	// sync changes. An object whose content stays keeps the commit that
	// last changed it; empty leaves the annotation objects were rendered
	// with (render.Renderer gives an unchanged service's objects as an
	// earlier commit rendered them).
	Commit string
}

// Defaults for Options.
const (
	DefaultPruneMaxShare = 0.5
	DefaultWorkers       = 16
)

// WithDefaults fills in what o leaves at zero.
func (o Options) WithDefaults() Options {
	if o.PruneMaxShare <= 0 {
		o.PruneMaxShare = DefaultPruneMaxShare
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.ParentNamespace == "" {
		o.ParentNamespace = DefaultParentNamespace
	}
	if o.ParentName == "" {
		o.ParentName = DefaultParentName
	}
	return o
}
