package source

import (
	"context"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/sailplan/sailplan/schema"
)

// ReadTree reads the intent files under dir of a commit's tree by the rule
// Fetch reads them, for a writer that edits what the source will read
// (promote/writeback).
func ReadTree(ctx context.Context, commit *object.Commit, dir string) (schema.Files, error) {
	return readTree(ctx, commit, dir)
}
