package schema

import (
	"context"
	"testing"
)

// TestClusterViews: the views ForCluster gives are the ones ClusterViews
// lists, and SetClusterView puts one back where ForCluster finds it.
func TestClusterViews(t *testing.T) {
	files, err := ReadDir(context.Background(), "../examples/fleet")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Load(files)
	if err != nil {
		t.Fatal(err)
	}
	views := in.ClusterViews()
	if len(views) != 1 || views["us-1"] == nil || views["us-1"] != in.ForCluster("us-1") {
		t.Fatalf("views %v, want us-1's, as ForCluster gives it", views)
	}
	var copied Intents
	copied.SetClusterView("us-1", views["us-1"])
	if copied.ForCluster("us-1") != views["us-1"] || copied.ForCluster("eu-1") != &copied {
		t.Error("ForCluster does not find the view SetClusterView recorded")
	}
}
