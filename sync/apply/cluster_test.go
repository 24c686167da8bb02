package apply

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/sailplan/sailplan/sync/kube"
)

// TestSyncUnreachable: a cluster that does not answer is found by the
// first request, named, and marked unreachable, so that its wave goes on.
func TestSyncUnreachable(t *testing.T) {
	// Nothing listens on port 1 of the loopback address.
	c, err := NewCluster("gone", &rest.Config{Host: "https://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err = c.Sync(t.Context(), 1, "c0ffee", nil, Options{})
	if !kube.IsUnreachable(err) || !strings.HasPrefix(err.Error(), "cluster gone: unreachable: ") {
		t.Fatalf("Sync error = %v, want an unreachable one naming the cluster", err)
	}
	c.MarkUnreachable(err)
	if st := c.Status(); st.State != StateUnreachable || st.Error != err.Error() {
		t.Errorf("status = %+v, want unreachable with the error", st)
	}
}
