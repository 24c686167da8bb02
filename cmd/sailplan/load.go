package main

import (
	"context"

	"github.com/sailplan/sailplan/schema"
)

// loadDir reads the intent files in dir and loads them.
func loadDir(ctx context.Context, dir string) (*schema.Intents, error) {
	files, err := schema.ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	return schema.Load(files)
}
