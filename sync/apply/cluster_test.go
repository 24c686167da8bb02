package apply

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/sailplan/sailplan/sync/kube"
)

// TestSyncUnreachable: a cluster that does not answer is found by the
// first request and marked unreachable, so that its wave goes on; the
// caller names the cluster.
func TestSyncUnreachable(t *testing.T) {
	// Nothing listens on port 1 of the loopback address.
	c, err := NewCluster("gone", &rest.Config{Host: "https://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Sync(t.Context(), nil, Options{})
	if !kube.IsUnreachable(err) || !strings.Contains(err.Error(), "connect: connection refused") {
		t.Fatalf("Sync error = %v, want an unreachable one that says why", err)
	}
}
