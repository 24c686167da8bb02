package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AnnotationStatus on the ApplySet parent holds the cluster's ClusterStatus
// as JSON. Status lives in each cluster, next to the inventory it
// describes, rather than behind an HTTP endpoint of the daemon: `sailplan
// status` and kubectl need nothing but the kubeconfig that reaches the
// cluster, it survives daemon restarts, and it says what the cluster
// actually got even while the daemon is down.
const AnnotationStatus = "sailplan.dev/status"

// Cluster states.
const (
	// StateSynced: the cluster holds what Commit renders to.
	StateSynced = "synced"
	// StateFailed: the last sync of Target failed; Error says why.
	StateFailed = "failed"
	// StateWaiting: Target was not applied because an earlier wave failed.
	StateWaiting = "waiting"
	// StateUnreachable: the cluster did not answer; it is retried with
	// backoff. Only the daemon's own status can say so: the cluster's
	// annotation keeps its last written state.
	StateUnreachable = "unreachable"
)

// ClusterStatus is what sailplan last did in one cluster.
type ClusterStatus struct {
	// Commit is the last commit fully applied to the cluster.
	Commit string `json:"commit,omitempty"`
	// Target is the commit being applied; it differs from Commit while
	// the cluster waits or fails.
	Target string `json:"target,omitempty"`
	// State is synced, failed, waiting or unreachable.
	State string `json:"state"`
	// Wave is the cluster's wave.
	Wave int `json:"wave"`
	// Counts are objects by action in the last sync that changed
	// something; a sync that changes nothing leaves the status as it was,
	// so that a no-op reconcile writes nothing at all.
	Counts map[Action]int `json:"counts,omitempty"`
	// Error is the last error, empty when the last sync succeeded.
	Error string `json:"error,omitempty"`
	// Time is when the status was last changed.
	Time time.Time `json:"time"`
}

// sameAs says whether two statuses differ in more than their time.
func (s ClusterStatus) sameAs(o ClusterStatus) bool {
	if s.Commit != o.Commit || s.Target != o.Target || s.State != o.State || s.Wave != o.Wave || s.Error != o.Error || len(s.Counts) != len(o.Counts) {
		return false
	}
	for k, v := range s.Counts {
		if o.Counts[k] != v {
			return false
		}
	}
	return true
}

func (s ClusterStatus) encode() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func decodeStatus(raw string) (ClusterStatus, error) {
	var s ClusterStatus
	if raw == "" {
		return s, nil
	}
	err := json.Unmarshal([]byte(raw), &s)
	return s, err
}

// Changed reports whether counts record any write.
func Changed(counts map[Action]int) bool {
	return counts[Created]+counts[Configured]+counts[Pruned] > 0
}

// nextStatus is the status to record after a sync of commit that ended
// with counts and err. A sync that wrote nothing and failed in the same
// way as before keeps the previous status, time included.
func nextStatus(prev ClusterStatus, wave int, commit string, counts map[Action]int, err error) ClusterStatus {
	next := ClusterStatus{Commit: prev.Commit, Target: commit, Wave: wave, Counts: prev.Counts, Time: time.Now().UTC().Truncate(time.Second)}
	if err != nil {
		next.State, next.Error = StateFailed, err.Error()
	} else {
		next.State, next.Commit = StateSynced, commit
	}
	if Changed(counts) || prev.Counts == nil {
		next.Counts = counts
	}
	if next.sameAs(prev) {
		return prev
	}
	return next
}

// ReadStatus reads the status sailplan recorded in the cluster. ok is
// false when sailplan has not synced the cluster yet.
func (c *Cluster) ReadStatus(ctx context.Context) (st ClusterStatus, ok bool, err error) {
	p, err := c.readParent(ctx)
	if err != nil {
		return ClusterStatus{}, false, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	if !p.exists || p.status == "" {
		return ClusterStatus{}, false, nil
	}
	st, err = decodeStatus(p.status)
	if err != nil {
		return ClusterStatus{}, false, fmt.Errorf("cluster %s: %s: annotation %s: %w", c.Name, c.inventory.ref(), AnnotationStatus, err)
	}
	return st, true, nil
}
