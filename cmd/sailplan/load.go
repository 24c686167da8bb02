package main

import (
	"context"

	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
)

// loadDir reads the intent files in dir and loads them within limits.
func loadDir(ctx context.Context, dir string, limits bounded.Limits) (*schema.Intents, error) {
	return loadDirFor(ctx, dir, "", limits)
}

// loadDirFor is loadDir for one cluster of the fleet (schema.LoadCluster),
// or for the whole fleet when cluster is empty.
func loadDirFor(ctx context.Context, dir, cluster string, limits bounded.Limits) (*schema.Intents, error) {
	files, err := schema.ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	if cluster == "" {
		return bounded.Load(ctx, files, limits)
	}
	return bounded.LoadCluster(ctx, files, cluster, limits)
}
