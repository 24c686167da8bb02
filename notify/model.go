package notify

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Limits that keep the model (and the status kept in the clusters) small.
const (
	// maxCommits is how many of the latest commits the status keeps.
	maxCommits = 10
	// maxErrors is how many errors of a rejected commit it keeps; a
	// ConfigMap holds 1 MiB, and a missing CRD can fail every object.
	maxErrors = 100
)

// Model folds the event stream into the current state of the fleet: the
// one answer to "what is the fleet doing right now, and why" that status,
// the notifiers and the page read. Subscribe it to the bus before the
// producers start.
type Model struct {
	mu         sync.Mutex
	status     Status
	generation uint64
	promotions map[string]Promotion
	analyses   map[string]AnalysisResult
	drift      map[string]DriftCorrected
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{
		status:     Status{Version: StatusVersion},
		promotions: map[string]Promotion{},
		analyses:   map[string]AnalysisResult{},
		drift:      map[string]DriftCorrected{},
	}
}

// Snapshot is the whole model at one moment, for the page and the notifiers.
type Snapshot struct {
	Status     Status                    `json:"status"`
	Promotions map[string]Promotion      `json:"promotions,omitempty"`
	Analyses   map[string]AnalysisResult `json:"analyses,omitempty"`
	// Drift is the last drift correction per cluster.
	Drift map[string]DriftCorrected `json:"drift,omitempty"`
}

// Status returns a copy of the status and its generation, which grows
// with every change of the status (and only then).
func (m *Model) Status() (Status, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status.clone(), m.generation
}

// Generation grows with every change of the status, and only then.
func (m *Model) Generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.generation
}

// Snapshot returns a copy of the whole model.
func (m *Model) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Snapshot{
		Status:     m.status.clone(),
		Promotions: maps.Clone(m.promotions),
		Analyses:   maps.Clone(m.analyses),
		Drift:      maps.Clone(m.drift),
	}
}

// Promotion returns a service's promotion as last published.
func (m *Model) Promotion(service string) (Promotion, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.promotions[service]
	return p, ok
}

// Restore starts the model from a status kept earlier (by a daemon that
// has since stopped), so that what clusters hold and when they got it
// survives restarts. Events then update it as usual.
func (m *Model) Restore(st Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st = st.clone()
	st.Version = StatusVersion
	m.status = st
	m.generation++
}

// Handle folds one event into the model.
func (m *Model) Handle(e Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before := m.status.clone()
	m.fold(e)
	if !equalStatus(before, m.status) {
		m.status.Updated = e.When()
		m.generation++
	}
}

func (m *Model) fold(e Event) {
	st := &m.status
	switch e := e.(type) {
	case SourceFailed:
		if st.Source.Error == "" {
			st.Source.ErrorSince = e.Time
		}
		st.Source.Name, st.Source.Error = e.Source, e.Err
	case SourceRecovered:
		st.Source.Name, st.Source.Error, st.Source.ErrorSince = e.Source, "", time.Time{}
	case CommitSeen:
		st.Head = e.Commit.Hash
		if e.Source != "" {
			st.Source.Name = e.Source
		}
		m.commit(e.Commit, e.Time)
	case CommitRejected:
		c := m.commit(e.Commit, e.Time)
		c.Fate, c.Reason, c.Done = FateRejected, e.Reason, e.Time
		c.Errors = limitErrors(e.Errors)
	case CommitApplying:
		c := m.commit(e.Commit, e.Time)
		c.Fate, c.Reason, c.Errors = FateApplying, "", nil
		c.Warnings = limitErrors(e.Warnings)
		for i := range st.Commits {
			if o := &st.Commits[i]; o.Commit.Hash != e.Commit.Hash && (o.Fate == FateApplying || o.Fate == FateHeld) {
				o.Fate, o.Done = FateSuperseded, e.Time
			}
		}
		m.fleet(e)
	case CommitApplied:
		c := m.commit(e.Commit, e.Time)
		c.Fate, c.Reason, c.Done = FateApplied, "", e.Time
	case ClusterSynced:
		cs := m.cluster(e.Cluster, e.Wave)
		if cs.Commit != e.Commit {
			cs.Commit, cs.Applied = e.Commit, e.Time
		}
		if e.Counts.Wrote() || cs.Counts == (Counts{}) {
			cs.Counts = e.Counts
		}
		m.setState(e.Cluster, cs, StateSynced, e.Commit, "", e.Time)
		m.unhold(e.Commit)
		if c := m.find(e.Commit); c != nil {
			if c.Clusters == nil {
				c.Clusters = map[string]time.Time{}
			}
			if _, ok := c.Clusters[e.Cluster]; !ok {
				c.Clusters[e.Cluster] = e.Time
			}
		}
	case ClusterFailed:
		cs := m.cluster(e.Cluster, e.Wave)
		m.setState(e.Cluster, cs, StateFailed, e.Commit, e.Err, e.Time)
		m.hold(e.Commit, fmt.Sprintf("cluster %s failed: %s", e.Cluster, e.Err))
	case ClusterUnreachable:
		cs := m.cluster(e.Cluster, e.Wave)
		m.setState(e.Cluster, cs, StateUnreachable, e.Commit, e.Err, e.Time)
	case ClusterWaiting:
		cs := m.cluster(e.Cluster, e.Wave)
		m.setState(e.Cluster, cs, StateWaiting, e.Commit, e.Reason, e.Time)
		m.hold(e.Commit, e.Reason)
	case ClusterExcluded:
		cs := m.cluster(e.Cluster, e.Wave)
		m.setState(e.Cluster, cs, StateExcluded, cs.Target, "", e.Time)
	case PruneRefused:
		m.hold(e.Commit, fmt.Sprintf("cluster %s: prune refused: it would delete %d of the %d objects sailplan manages there", e.Cluster, e.Delete, e.Inventory))
	case DriftCorrected:
		m.drift[e.Cluster] = e
	case AnalysisResult:
		m.analyses[e.Service] = e
	case PromotionsLoaded:
		for _, p := range e.Promotions {
			m.promotions[p.Service] = p
		}
	case PromotionEvent:
		p := e.Current()
		m.promotions[p.Service] = p
	}
}

// commit finds or adds a commit among the latest, newest first.
func (m *Model) commit(c Commit, at time.Time) *CommitStatus {
	if cs := m.find(c.Hash); cs != nil {
		if c.Author != "" || c.Message != "" {
			cs.Commit = c
		}
		return cs
	}
	st := &m.status
	st.Commits = slices.Insert(st.Commits, 0, CommitStatus{Commit: c, Fate: FateSeen, Seen: at})
	if len(st.Commits) > maxCommits {
		st.Commits = st.Commits[:maxCommits]
	}
	return &st.Commits[0]
}

func (m *Model) find(hash string) *CommitStatus {
	for i := range m.status.Commits {
		if m.status.Commits[i].Commit.Hash == hash {
			return &m.status.Commits[i]
		}
	}
	return nil
}

// hold marks a commit being applied as held by a guard or a failed wave;
// the first reason stays, as the one that held it.
func (m *Model) hold(hash, reason string) {
	if c := m.find(hash); c != nil && c.Fate == FateApplying {
		c.Fate, c.Reason = FateHeld, reason
	}
}

// unhold puts a held commit back to applying once no cluster fails or
// waits on it any more (the guard was lifted, the failed wave fixed).
func (m *Model) unhold(hash string) {
	c := m.find(hash)
	if c == nil || c.Fate != FateHeld {
		return
	}
	for _, cs := range m.status.Clusters {
		if cs.Target == hash && (cs.State == StateFailed || cs.State == StateWaiting) {
			return
		}
	}
	c.Fate, c.Reason = FateApplying, ""
}

// fleet makes the declared clusters the model's: new ones are pending,
// ones no longer declared are dropped, waves are as declared.
func (m *Model) fleet(e CommitApplying) {
	if e.Intents == nil {
		return
	}
	st := &m.status
	if st.Clusters == nil {
		st.Clusters = map[string]ClusterStatus{}
	}
	for name := range st.Clusters {
		if _, ok := e.Intents.Fleet.Clusters[name]; !ok {
			delete(st.Clusters, name)
		}
	}
	for name, decl := range e.Intents.Fleet.Clusters {
		cs, ok := st.Clusters[name]
		if !ok {
			cs = ClusterStatus{State: StatePending, Since: e.Time}
		}
		cs.Wave = decl.Wave
		st.Clusters[name] = cs
	}
}

func (m *Model) cluster(name string, wave int) ClusterStatus {
	cs, ok := m.status.Clusters[name]
	if !ok {
		cs = ClusterStatus{State: StatePending}
	}
	cs.Wave = wave
	return cs
}

func (m *Model) setState(name string, cs ClusterStatus, state, target, err string, at time.Time) {
	if cs.State != state {
		cs.Since = at
	}
	cs.State, cs.Target, cs.Error = state, target, err
	if m.status.Clusters == nil {
		m.status.Clusters = map[string]ClusterStatus{}
	}
	m.status.Clusters[name] = cs
}

func limitErrors(errs []string) []string {
	if len(errs) <= maxErrors {
		return slices.Clone(errs)
	}
	out := slices.Clone(errs[:maxErrors])
	return append(out, fmt.Sprintf("and %d more errors", len(errs)-maxErrors))
}

// equalStatus compares two statuses but for when they were updated.
func equalStatus(a, b Status) bool {
	a.Updated, b.Updated = time.Time{}, time.Time{}
	if a.Version != b.Version || a.Source != b.Source || a.Head != b.Head || !maps.Equal(a.Clusters, b.Clusters) || len(a.Commits) != len(b.Commits) {
		return false
	}
	for i := range a.Commits {
		x, y := a.Commits[i], b.Commits[i]
		if x.Commit != y.Commit || x.Fate != y.Fate || x.Reason != y.Reason || !x.Seen.Equal(y.Seen) || !x.Done.Equal(y.Done) ||
			!slices.Equal(x.Errors, y.Errors) || !slices.Equal(x.Warnings, y.Warnings) || !maps.EqualFunc(x.Clusters, y.Clusters, time.Time.Equal) {
			return false
		}
	}
	return true
}
