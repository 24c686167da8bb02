package explain

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSettingsAt checks how Istio merges a DestinationRule's policies: a
// subset's setting replaces the host's setting of that name; a port's
// settings replace all of them, unset ones falling back to defaults.
func TestSettingsAt(t *testing.T) {
	lb := map[string]any{"simple": "ROUND_ROBIN"}
	pool := map[string]any{"tcp": map[string]any{"maxConnections": int64(100)}}
	subsetPool := map[string]any{"tcp": map[string]any{"maxConnections": int64(10)}}
	portPool := map[string]any{"tcp": map[string]any{"maxConnections": int64(200)}}
	host := map[string]any{
		"loadBalancer":   lb,
		"connectionPool": pool,
		"portLevelSettings": []any{map[string]any{
			"port":           map[string]any{"number": int64(8080)},
			"connectionPool": portPool,
		}},
	}
	subset := map[string]any{"connectionPool": subsetPool}
	for _, tc := range []struct {
		name string
		got  map[string]Setting
		want map[string]Setting
	}{
		{"the host's policy", settingsAt(host, 80, "host", nil), map[string]Setting{
			"loadBalancer": {lb, "host"}, "connectionPool": {pool, "host"}}},
		{"a port's settings replace the host's, all of them", settingsAt(host, 8080, "host", nil), map[string]Setting{
			"connectionPool": {portPool, "host, port 8080"}}},
		{"a subset's setting replaces that setting only", settingsAt(subset, 80, "subset v1", settingsAt(host, 80, "host", nil)), map[string]Setting{
			"loadBalancer": {lb, "host"}, "connectionPool": {subsetPool, "subset v1"}}},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
