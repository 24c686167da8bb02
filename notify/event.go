package notify

import (
	"time"

	"github.com/sailplan/sailplan/schema"
)

// Event is one thing that happened to the fleet: a commit seen or
// rejected, a cluster synced or lost, a promotion stepped or decided.
// Events are values; a consumer may keep them. Sync and promote publish
// them; the model, the notifiers, the metrics and the status writer read
// them.
type Event interface {
	// When is when it happened.
	When() time.Time
	event()
}

// At is when an event happened; every event embeds it.
type At struct {
	Time time.Time `json:"time"`
}

// When is when the event happened.
func (a At) When() time.Time { return a.Time }

func (At) event() {}

// Commit names a commit of the intent repository.
type Commit struct {
	Hash    string `json:"hash"`
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
	// Signer is the OpenPGP key that signed it, when signatures are verified.
	Signer string `json:"signer,omitempty"`
	// Time is the commit's committer time; zero when unknown.
	Time time.Time `json:"committed,omitzero"`
}

// Short is the commit's abbreviated hash.
func (c Commit) Short() string { return Short(c.Hash) }

// Subject is the first line of the commit message.
func (c Commit) Subject() string {
	for i, r := range c.Message {
		if r == '\n' {
			return c.Message[:i]
		}
	}
	return c.Message
}

// Short abbreviates a commit hash for people; other names (such as
// "local-..." for a working tree) stay as they are.
func Short(hash string) string {
	if len(hash) == 40 {
		return hash[:7]
	}
	return hash
}

// Counts are objects by what a sync did to them.
type Counts struct {
	Created    int `json:"created"`
	Configured int `json:"configured"`
	Unchanged  int `json:"unchanged"`
	Pruned     int `json:"pruned"`
}

// Wrote reports whether anything was written.
func (c Counts) Wrote() bool { return c.Created+c.Configured+c.Pruned > 0 }

// Plus adds two counts.
func (c Counts) Plus(o Counts) Counts {
	return Counts{c.Created + o.Created, c.Configured + o.Configured, c.Unchanged + o.Unchanged, c.Pruned + o.Pruned}
}

// ObjectChange is one object a sync created, configured or pruned.
type ObjectChange struct {
	// Object is Kind/namespace/name.
	Object string `json:"object"`
	// Action is created, configured or pruned.
	Action string `json:"action"`
}

// The Git source.

// SourceFailed: the source could not be read (the Git server is down, the
// branch is gone, credentials were refused). It is published on every
// failed attempt; consumers decide how often to speak of it. Clusters keep
// the last applied commit meanwhile.
type SourceFailed struct {
	At
	// Source names the repository and reference, without credentials.
	Source string `json:"source"`
	Err    string `json:"error"`
}

// SourceRecovered: the source answered again after failures.
type SourceRecovered struct {
	At
	Source string `json:"source"`
	// Down is how long it failed.
	Down time.Duration `json:"down"`
}

// Commits.

// CommitSeen: the source stands at a commit not seen before.
type CommitSeen struct {
	At
	// Source names the repository, without credentials.
	Source string `json:"source"`
	Commit Commit `json:"commit"`
}

// CommitFetched: the commit the source stands at was read, to be
// evaluated or (its signature or files refused) rejected. A fetch that
// failed is a SourceFailed instead.
type CommitFetched struct {
	At
	Source string `json:"source"`
	Commit Commit `json:"commit"`
	// Duration is the whole read of the new commit: the head's reference
	// listing and the fetch of its objects.
	Duration time.Duration `json:"duration"`
}

// CommitEvaluated: the commit's intents were evaluated (schema/bounded):
// to an answer, valid or not, until a limit stopped the evaluation, or
// until it crashed. An evaluation that the daemon's own stop ended is not
// published.
type CommitEvaluated struct {
	At
	Commit Commit `json:"commit"`
	// Duration is how long the evaluation ran.
	Duration time.Duration `json:"duration"`
	// PeakBytes is the most memory it held resident; 0 when the system
	// does not say (outside Linux, or evaluated in process).
	PeakBytes int64 `json:"peakBytes,omitempty"`
}

// Why a commit was rejected.
const (
	// RejectedInvalid: the intents did not load, validate or render.
	RejectedInvalid = "invalid"
	// RejectedSignature: the commit is not signed by a trusted key.
	RejectedSignature = "signature"
	// RejectedFleet: the fleet it declares cannot be reached as declared
	// (no clusters, a cluster without a kubeconfig context).
	RejectedFleet = "fleet"
	// RejectedLimits: evaluating the intents went over the time or memory
	// limit (schema/bounded) and was stopped.
	RejectedLimits = "limits"
)

// CommitRejected: nothing of the commit was applied anywhere; the last
// good commit stays. Errors holds every error, one line each, with file,
// line and column where the intents are at fault.
type CommitRejected struct {
	At
	Commit Commit   `json:"commit"`
	Reason string   `json:"reason"`
	Errors []string `json:"errors"`
}

// CommitApplying: the commit's intents loaded, validated and rendered for
// every cluster of its fleet; applying starts, wave by wave. Intents is
// shared and must not be modified. Warnings are the intents' warnings, one
// line each with file, line and column: they never hold a commit back.
type CommitApplying struct {
	At
	Commit   Commit          `json:"commit"`
	Intents  *schema.Intents `json:"-"`
	Warnings []string        `json:"warnings,omitempty"`
}

// CommitApplied: every cluster of the fleet holds the commit.
type CommitApplied struct {
	At
	Commit Commit `json:"commit"`
	// Clusters are each cluster's counts for this commit, summed over its
	// syncs of it.
	Clusters map[string]Counts `json:"clusters"`
}

// Clusters.

// ClusterSynced: a cluster holds what the commit renders to (with the
// promotion weights of the moment). It is published for every sync,
// also those that changed nothing.
type ClusterSynced struct {
	At
	Cluster string `json:"cluster"`
	Wave    int    `json:"wave"`
	Commit  string `json:"commit"`
	// Committed is the commit's committer time; zero when unknown.
	Committed time.Time `json:"committed,omitzero"`
	Counts    Counts    `json:"counts"`
	// Kinds are the same counts by kind of object (VirtualService, ...).
	Kinds    map[string]Counts `json:"kinds,omitempty"`
	Duration time.Duration     `json:"duration"`
	// Changes lists the objects written; unchanged ones are only counted.
	Changes []ObjectChange `json:"changes,omitempty"`
}

// ClusterFailed: the cluster answered, with an error (a conflict, a
// rejected object, a missing CRD, a refused prune); its wave fails.
type ClusterFailed struct {
	At
	Cluster  string        `json:"cluster"`
	Wave     int           `json:"wave"`
	Commit   string        `json:"commit"`
	Err      string        `json:"error"`
	Duration time.Duration `json:"duration"`
	// Kinds counts, by kind, what the sync did before it failed.
	Kinds   map[string]Counts `json:"kinds,omitempty"`
	Changes []ObjectChange    `json:"changes,omitempty"`
	// Conflicts counts, by kind, the objects left as they were because
	// another field manager owns fields of theirs.
	Conflicts map[string]int `json:"conflicts,omitempty"`
}

// ClusterUnreachable: the cluster did not answer. It does not fail its
// wave; it is retried with backoff.
type ClusterUnreachable struct {
	At
	Cluster string        `json:"cluster"`
	Wave    int           `json:"wave"`
	Commit  string        `json:"commit"`
	Err     string        `json:"error"`
	RetryIn time.Duration `json:"retryIn"`
	// Kinds counts, by kind, what the sync did before the cluster stopped
	// answering (nothing when it did not answer at all).
	Kinds map[string]Counts `json:"kinds,omitempty"`
}

// ClusterRecovered: a cluster that did not answer answers again.
type ClusterRecovered struct {
	At
	Cluster string        `json:"cluster"`
	Wave    int           `json:"wave"`
	Down    time.Duration `json:"down"`
}

// ClusterWaiting: the commit was not applied to the cluster because an
// earlier wave failed.
type ClusterWaiting struct {
	At
	Cluster string `json:"cluster"`
	Wave    int    `json:"wave"`
	Commit  string `json:"commit"`
	Reason  string `json:"reason"`
}

// ClusterExcluded: a declared cluster this daemon leaves out, as its
// operator asked (--exclude-cluster): it is not applied and holds no wave.
type ClusterExcluded struct {
	At
	Cluster string `json:"cluster"`
	Wave    int    `json:"wave"`
}

// DriftCorrected: an object sailplan manages was changed or deleted by
// someone else, and sailplan put it back (or failed to: Err).
type DriftCorrected struct {
	At
	Cluster string `json:"cluster"`
	Object  string `json:"object"`
	// Kind is the object's kind.
	Kind string `json:"kind"`
	// Drift is "changed" or "deleted".
	Drift string `json:"drift"`
	Err   string `json:"error,omitempty"`
}

// PruneRefused: a prune would have deleted more of the cluster's
// inventory than allowed; nothing was deleted. The cluster's sync fails
// with the same refusal (ClusterFailed).
type PruneRefused struct {
	At
	Cluster   string   `json:"cluster"`
	Commit    string   `json:"commit"`
	Delete    int      `json:"delete"`
	Inventory int      `json:"inventory"`
	MaxShare  float64  `json:"maxShare"`
	Examples  []string `json:"examples"`
}

// The daemon.

// LeaderChanged: this replica started (Leading) or stopped leading: only
// the leader syncs, promotes and writes the status.
type LeaderChanged struct {
	At
	Leading bool `json:"leading"`
}
