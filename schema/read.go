package schema

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// IntentFile reports whether a slash-separated path relative to the intent
// root is part of the intents: a .cue file outside cue.mod and hidden
// directories.
func IntentFile(p string) bool {
	if path.Ext(p) != ".cue" {
		return false
	}
	parts := strings.Split(p, "/")
	for _, d := range parts[:len(parts)-1] {
		if d == "cue.mod" || (strings.HasPrefix(d, ".") && d != ".") {
			return false
		}
	}
	return true
}

// ReadDir reads the intent files under dir.
func ReadDir(ctx context.Context, dir string) (Files, error) {
	files := Files{}
	fsys := os.DirFS(dir)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !IntentFile(p) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading intents in %s: %w", dir, err)
	}
	return files, nil
}
