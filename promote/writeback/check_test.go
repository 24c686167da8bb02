package writeback

import (
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
)

// TestCheck: the edit of reviewsCUE renders every cluster as the
// promotion serves it; a cluster's override that names the candidate too,
// which Edit cannot see, is caught before anything is pushed: the edited
// intents do not even load.
func TestCheck(t *testing.T) {
	promoted := func(in *schema.Intents) *promote.State {
		st := promote.NewState("reviews", in.Services["reviews"], []int{1, 2}, t0)
		st.Phase = promote.Promoted
		for i := range st.Waves {
			st.Waves[i].Step, st.Waves[i].Weight = 1, 100
		}
		return st
	}
	tests := []struct{ name, fleet, want string }{
		{"no override", fleetCUE, ""},
		{"an override names the candidate", "package intents\n\nfleet: clusters: {c1: wave: 1, c2: {wave: 2, overrides: services: reviews: canary: candidate: \"v2\"}}\n",
			`the edited intents do not load: fleet.cue:3:95: services.reviews.canary.candidate: cluster c2: candidate and stable are both "v2" (hint: name the new version as candidate)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := schema.Files{"fleet.cue": []byte(tt.fleet), "reviews.cue": []byte(reviewsCUE)}
			head, err := schema.Load(files)
			if err != nil {
				t.Fatal(err)
			}
			name, out, err := Edit(files, "reviews", "v1", "v2")
			if err != nil {
				t.Fatal(err)
			}
			edited := maps.Clone(files)
			edited[name] = out
			got, err := check(t.Context(), head, edited, promoted(head), "c0ffee", bounded.Limits{InProcess: true, Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
