package notify

import (
	"maps"
	"slices"
	"time"
)

// StatusVersion is the version of the Status JSON; a reader refuses a
// newer one rather than misread it.
const StatusVersion = 1

// Status is what the fleet is doing, as the daemon last knew it: the
// source, the latest commits and their fate, and every cluster. It is the
// part of the model that is kept in the clusters for `sailplan status`,
// so it holds nothing that changes while nothing happens: a sync that
// changes nothing leaves it equal, and costs no write.
type Status struct {
	Version int `json:"version"`
	// Updated is when it last changed.
	Updated time.Time `json:"updated"`
	Source  Source    `json:"source"`
	// Head is the last commit seen at the source.
	Head string `json:"head,omitempty"`
	// Commits are the latest commits seen, newest first.
	Commits []CommitStatus `json:"commits,omitempty"`
	// Clusters are the declared clusters by name.
	Clusters map[string]ClusterStatus `json:"clusters,omitempty"`
}

// Source is the Git source's health.
type Source struct {
	Name string `json:"name,omitempty"`
	// Error is the last error reading it, empty once it answers again.
	Error      string    `json:"error,omitempty"`
	ErrorSince time.Time `json:"errorSince,omitzero"`
}

// Fates of a commit.
const (
	// FateSeen: seen at the source, not yet loaded.
	FateSeen = "seen"
	// FateApplying: valid, being applied wave by wave.
	FateApplying = "applying"
	// FateApplied: every cluster holds it.
	FateApplied = "applied"
	// FateRejected: refused, nothing applied (Errors say why).
	FateRejected = "rejected"
	// FateHeld: valid, but stopped by a guard: a refused prune, a failed
	// wave that holds the later ones (Reason says which).
	FateHeld = "held"
	// FateSuperseded: a newer commit was applied before this one reached
	// every cluster.
	FateSuperseded = "superseded"
)

// CommitStatus is one commit and what became of it.
type CommitStatus struct {
	Commit Commit `json:"commit"`
	Fate   string `json:"fate"`
	// Reason says why it is rejected or held; Errors lists every error of
	// a rejected commit (at most maxErrors, then a count).
	Reason string   `json:"reason,omitempty"`
	Errors []string `json:"errors,omitempty"`
	// Warnings are what its intents were warned of (validate --strict
	// would refuse them); the commit was applied all the same.
	Warnings []string  `json:"warnings,omitempty"`
	Seen     time.Time `json:"seen"`
	// Done is when it was applied everywhere, rejected or superseded.
	Done time.Time `json:"done,omitzero"`
	// Clusters is when each cluster got it.
	Clusters map[string]time.Time `json:"clusters,omitempty"`
}

// Cluster states.
const (
	// StatePending: declared, not synced by this daemon yet.
	StatePending = "pending"
	// StateSynced: holds what Commit renders to.
	StateSynced = "synced"
	// StateFailed: answered the last sync with an error.
	StateFailed = "failed"
	// StateWaiting: Target was not applied because an earlier wave failed.
	StateWaiting = "waiting"
	// StateUnreachable: does not answer; retried with backoff.
	StateUnreachable = "unreachable"
	// StateExcluded: left out by its operator; not applied, holds nothing.
	StateExcluded = "excluded"
)

// ClusterStatus is one cluster as the daemon last saw it.
type ClusterStatus struct {
	Wave  int    `json:"wave"`
	State string `json:"state"`
	// Since is when it entered State.
	Since time.Time `json:"since,omitzero"`
	// Commit is the last commit it fully holds, Applied when it got it.
	Commit  string    `json:"commit,omitempty"`
	Applied time.Time `json:"applied,omitzero"`
	// Target is the commit being applied; it differs from Commit while
	// the cluster fails, waits or cannot be reached.
	Target string `json:"target,omitempty"`
	// Counts are from the last sync that wrote something.
	Counts Counts `json:"counts"`
	// Error says why it is not synced; empty when it is.
	Error string `json:"error,omitempty"`
}

// Healthy reports whether the source answers, the newest commit is
// applied and every cluster is synced (or excluded by its operator).
func (s Status) Healthy() bool {
	if s.Source.Error != "" {
		return false
	}
	if len(s.Commits) > 0 && s.Commits[0].Fate != FateApplied {
		return false
	}
	for _, c := range s.Clusters {
		if c.State != StateSynced && c.State != StateExcluded {
			return false
		}
	}
	return true
}

// Commit returns the status of a commit, if it is among the latest.
func (s Status) Commit(hash string) (CommitStatus, bool) {
	for _, c := range s.Commits {
		if c.Commit.Hash == hash {
			return c, true
		}
	}
	return CommitStatus{}, false
}

// Applied is the newest commit applied everywhere, if any is among the latest.
func (s Status) Applied() (CommitStatus, bool) {
	for _, c := range s.Commits {
		if c.Fate == FateApplied {
			return c, true
		}
	}
	return CommitStatus{}, false
}

// clone copies s deeply, so that the copy can be handed out while the
// model goes on changing.
func (s Status) clone() Status {
	out := s
	out.Commits = make([]CommitStatus, len(s.Commits))
	for i, c := range s.Commits {
		c.Errors = slices.Clone(c.Errors)
		c.Clusters = maps.Clone(c.Clusters)
		out.Commits[i] = c
	}
	out.Clusters = maps.Clone(s.Clusters)
	return out
}
