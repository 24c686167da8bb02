package schema

import (
	"crypto/sha256"
	gosync "sync"

	"cuelang.org/go/cue/parser"
)

// SplitCache keeps, for LoadSplit, what each file's syntax says and what
// evaluating it alone gave, keyed by its name and content, for the files
// of the latest load only: a daemon holds one commit's worth.
type SplitCache struct {
	mu     gosync.Mutex
	shapes map[fileKey]*fileShape
	parts  map[fileKey]*Intents
}

// NewSplitCache makes an empty cache.
func NewSplitCache() *SplitCache {
	return &SplitCache{shapes: map[fileKey]*fileShape{}, parts: map[fileKey]*Intents{}}
}

type fileKey struct {
	name string
	sum  [sha256.Size]byte
}

func keyOf(name string, src []byte) fileKey { return fileKey{name, sha256.Sum256(src)} }

// fileShape is what loading file by file needs of a file's syntax.
type fileShape struct {
	pkg   string
	paths []intentPath
	refs  map[string]bool
}

// shape parses a file, once per content; nil when it cannot be loaded
// on its own.
func (c *SplitCache) shape(name string, src []byte) *fileShape {
	k := keyOf(name, src)
	c.mu.Lock()
	sh, ok := c.shapes[k]
	c.mu.Unlock()
	if ok {
		return sh
	}
	sh = func() *fileShape {
		f, err := parser.ParseFile(name, src)
		if err != nil {
			return nil
		}
		paths, ok := topLevelPaths(f)
		if !ok {
			return nil
		}
		return &fileShape{pkg: f.PackageName(), paths: paths, refs: identifiers(f)}
	}()
	c.mu.Lock()
	c.shapes[k] = sh
	c.mu.Unlock()
	return sh
}

func (c *SplitCache) part(name string, src []byte) *Intents {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parts[keyOf(name, src)]
}

func (c *SplitCache) keepPart(name string, src []byte, in *Intents) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parts[keyOf(name, src)] = in
}

// keepOnly forgets every file that is not one of files, as they are now.
func (c *SplitCache) keepOnly(files Files) {
	keep := map[fileKey]bool{}
	for name, src := range files {
		keep[keyOf(name, src)] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.shapes {
		if !keep[k] {
			delete(c.shapes, k)
		}
	}
	for k := range c.parts {
		if !keep[k] {
			delete(c.parts, k)
		}
	}
}
