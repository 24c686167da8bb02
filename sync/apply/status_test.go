package apply

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNextStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	synced := ClusterStatus{Commit: "a", Target: "a", State: StateSynced, Wave: 1, Counts: map[Action]int{Created: 4}, Time: t0}
	tests := []struct {
		name   string
		prev   ClusterStatus
		commit string
		counts map[Action]int
		err    error
		want   ClusterStatus
	}{
		{"no-op keeps everything, time included", synced, "a", map[Action]int{Unchanged: 4}, nil, synced},
		{"change records counts", synced, "b", map[Action]int{Configured: 1, Unchanged: 3}, nil,
			ClusterStatus{Commit: "b", Target: "b", State: StateSynced, Wave: 1, Counts: map[Action]int{Configured: 1, Unchanged: 3}}},
		{"failure keeps the applied commit", synced, "b", map[Action]int{Unchanged: 4}, errors.New("boom"),
			ClusterStatus{Commit: "a", Target: "b", State: StateFailed, Wave: 1, Counts: map[Action]int{Created: 4}, Error: "boom"}},
		{"first sync", ClusterStatus{}, "a", map[Action]int{Unchanged: 4}, nil,
			ClusterStatus{Commit: "a", Target: "a", State: StateSynced, Wave: 1, Counts: map[Action]int{Unchanged: 4}}},
	}
	for _, tt := range tests {
		got := nextStatus(tt.prev, 1, tt.commit, tt.counts, tt.err)
		ignoreTime := cmpopts.IgnoreFields(ClusterStatus{}, "Time")
		if tt.name == "no-op keeps everything, time included" {
			ignoreTime = nil
		}
		if diff := cmp.Diff(tt.want, got, ignoreTime); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
