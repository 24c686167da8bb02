package slack

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// TestDryRun: without a token, the notifier sends nothing and logs each
// message, one line, saying what would have been sent and where.
func TestDryRun(t *testing.T) {
	var buf bytes.Buffer
	n := New(Config{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Channel: "#sailplan"})
	n.Handle(notify.CommitApplying{Intents: &schema.Intents{
		Fleet:    schema.Fleet{Clusters: map[string]schema.Cluster{"c1": {Wave: 1}}},
		Services: map[string]*schema.Service{"reviews": canary(t, "v2", `{"atWeights": [10], "slack": {"channel": "#deploys"}}`)},
	}})
	p := notify.Promotion{Service: "reviews", Stable: "v1", Candidate: "v2", Phase: "WaitingForApproval", Reason: "step to 10% needs an approval",
		Steps: []int{10, 50, 100}, ApprovalAt: []int{10}, Waves: []notify.WaveWeight{{Wave: 1, Step: -1}}, Started: t0}
	n.Handle(notify.ApprovalWaiting{Change: notify.Change{At: notify.At{Time: t0}, Promotion: p}, Wave: 1, Weight: 10})
	n.Handle(notify.CommitRejected{Commit: notify.Commit{Hash: "0123456789abcdef0123456789abcdef01234567"}, Reason: notify.RejectedSignature,
		Errors: []string{"signature: unsigned commit"}})
	type line struct{ Kind, Channel, As, Text, Key string }
	var got []line
	for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got = append(got, l)
	}
	want := []line{
		{Kind: "promotion", Channel: "#deploys", As: "root post or update", Text: "reviews: approval needed for v2 at 10%", Key: "reviews"},
		{Kind: "promotion-event", Channel: "#deploys", As: "thread reply", Text: "reviews WaitingForApproval: step to 10% needs an approval", Key: "reviews"},
		{Kind: "commit-rejected", Channel: "#sailplan", As: "post", Text: "Rejected 0123456: signature: unsigned commit", Key: "0123456"},
		{Kind: "commit-errors", Channel: "#sailplan", As: "thread reply", Text: "signature: unsigned commit\n", Key: "0123456"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if err := n.Drain(t.Context()); err != nil {
		t.Errorf("a dry run has nothing to drain, yet: %v", err)
	}
}
