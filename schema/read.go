package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Limits on the intent files, the same for the CLI (ReadDir) and the daemon
// (sync/source), which both read through a FileSet.
const (
	// MaxFileSize is the largest intent file read: 1 MiB is about a
	// thousand fully specified services in one file (render's benchmark
	// repository holds a hundred in 90 KB). A larger file is almost always
	// generated or vendored data put there by mistake.
	MaxFileSize = 1 << 20
	// MaxTotalSize bounds all intent files of an intent root together:
	// 16 MiB is some 18,000 such services, far more than one daemon loads
	// comfortably (a thousand take about 160 MiB of memory), and keeps a
	// commit from making it hold an unbounded amount in memory.
	MaxTotalSize = 16 << 20
)

// maxLinkTarget is the longest symbolic link target quoted in an error;
// a longer one (PATH_MAX is 4096) is only measured, never read.
const maxLinkTarget = 4096

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

// FileSet gathers the intent files of one intent root, from a working tree
// (ReadDir) or from a commit's tree (the daemon's Git source), under one
// rule, so that `sailplan validate` on a checkout reads exactly what the
// daemon reads from the same commit:
//
//   - Every .cue file outside cue.mod and hidden directories is read
//     (IntentFile); nothing else is opened.
//   - Such a file must be a regular file. A symbolic link is refused, with
//     its target in the error, and never followed: every .cue file under
//     the root is read already, so a link could only read a file twice or
//     reach outside the root (/etc/passwd, a file outside the repository).
//     Following links only inside the root would need a second resolver
//     for Git trees, where a link is a blob holding its target, that agrees
//     with the operating system's in every case, and a checkout with
//     core.symlinks=false (Windows) turns links into plain files anyway.
//     Refusing needs only the entry's mode, which both sides have.
//     Devices, pipes and sockets are refused too (Git cannot hold them; a
//     pipe would block validate).
//   - A directory that is a link is not walked, in either place, and
//     neither is a submodule: the daemon fetches only the repository's own
//     objects.
//   - Each file is at most MaxFileSize bytes and all of them together at
//     most MaxTotalSize.
//
// Every file refused is reported at once, as Errors whose lines start with
// the file's path relative to the intent root.
type FileSet struct {
	files Files
	errs  map[string]Error // by path, so that the walk's order does not matter
	// total is the size of the files within maxFile seen so far, read or
	// not: once it passes maxTotal nothing more is read.
	total             int64
	maxFile, maxTotal int64
}

// NewFileSet starts an empty set with the default limits.
func NewFileSet() *FileSet {
	return &FileSet{files: Files{}, errs: map[string]Error{}, maxFile: MaxFileSize, maxTotal: MaxTotalSize}
}

// Dir reports whether the walk enters the directory at p (slash-separated,
// relative to the intent root; "." is the root): not cue.mod, not a hidden
// directory, and not a submodule (a gitlink in a commit's tree; in a
// working tree, a directory holding .git), which the daemon never fetches.
// A link to a directory is not a directory: callers hand it to Add.
func (s *FileSet) Dir(p string, submodule bool) bool {
	if p == "." {
		return true
	}
	base := path.Base(p)
	return !submodule && base != "cue.mod" && !strings.HasPrefix(base, ".")
}

// Add considers one entry that is not a directory: p is its path relative
// to the intent root, mode its type bits (0 for a regular file; the
// permission bits are ignored), size its length in bytes (a link's is its
// target's length). read returns the content, or a link's target; it is
// called only when the entry is to be read. A refused entry is remembered
// for Files; an error is only read's failing, and aborts the walk.
func (s *FileSet) Add(ctx context.Context, p string, mode fs.FileMode, size int64, read func() ([]byte, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !IntentFile(p) {
		return nil
	}
	switch t := mode.Type(); {
	case t&fs.ModeSymlink != 0:
		target := fmt.Sprintf("a target of %d bytes", size)
		if size <= maxLinkTarget {
			b, err := read()
			if err != nil {
				return fmt.Errorf("%s: %w", printable(p), err)
			}
			target = printable(string(b))
		}
		s.refuse(p, "symbolic link to "+target+", which sailplan does not follow",
			"validate and the daemon read regular files only, in a working tree as in Git, and nothing outside the intent directory: replace the link with a copy of the file")
		return nil
	case t != 0:
		s.refuse(p, kind(t)+", not a regular file", "intent files must be regular files")
		return nil
	}
	if size > s.maxFile {
		s.tooLarge(p, size)
		return nil
	}
	s.total += size
	if s.total > s.maxTotal {
		return nil // Files reports it; reading more would only use memory
	}
	b, err := read()
	if err != nil {
		return fmt.Errorf("%s: %w", printable(p), err)
	}
	// A working tree can change between the listing and the read.
	s.total += int64(len(b)) - size
	if int64(len(b)) > s.maxFile {
		s.total -= int64(len(b))
		s.tooLarge(p, int64(len(b)))
		return nil
	}
	s.files[p] = b
	return nil
}

func (s *FileSet) tooLarge(p string, size int64) {
	s.refuse(p, fmt.Sprintf("%d bytes, more than the %s allowed per intent file", size, mib(s.maxFile)),
		"split it into smaller files; generated or vendored data does not belong in the intent directory")
}

func (s *FileSet) refuse(p, msg, hint string) {
	s.errs[p] = Error{Msg: printable(p) + ": " + msg, Hint: hint}
}

// Files returns the intent files read, or Errors with every entry refused
// (sorted by path) and, last, the total over MaxTotalSize.
func (s *FileSet) Files() (Files, error) {
	var errs Errors
	paths := make([]string, 0, len(s.errs))
	for p := range s.errs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		errs = append(errs, s.errs[p])
	}
	if s.total > s.maxTotal {
		errs = append(errs, Error{
			Msg:  fmt.Sprintf(".: the intent files add up to %d bytes, more than the %s allowed in all", s.total, mib(s.maxTotal)),
			Hint: "keep generated or vendored data out of the intent directory, or split the intents into several roots, each with its own daemon",
		})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s.files, nil
}

// kind names a type of file that is neither regular, a directory nor a
// link.
func kind(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "device"
	}
	return "irregular file"
}

// mib writes a limit as people set it: "1 MiB", or bytes when it is not a
// whole number of MiB (tests use small limits).
func mib(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// printable keeps an error on one line whatever a file or link target is
// called: a name with a newline or another unprintable character is
// quoted.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// ReadDir reads the intent files under dir, under FileSet's rule. Files
// are opened through an os.Root: even a link created while the walk runs
// cannot make it read anything outside dir. The files refused are Errors
// (dir is not named: their paths are relative to it); other failures name
// dir.
func ReadDir(ctx context.Context, dir string) (Files, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("reading intents in %s: %w", dir, err)
	}
	defer root.Close()
	fsys := root.FS()
	set := NewFileSet()
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// fs.WalkDir never enters a link: its entry is not a directory.
			if !set.Dir(p, p != "." && exists(fsys, path.Join(p, ".git"))) {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info() // an lstat: a link's own size
		if err != nil {
			return err
		}
		return set.Add(ctx, p, d.Type(), info.Size(), func() ([]byte, error) {
			if d.Type()&fs.ModeSymlink != 0 {
				target, err := fs.ReadLink(fsys, p)
				return []byte(target), err
			}
			return readRegular(fsys, p)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading intents in %s: %w", dir, err)
	}
	return set.Files()
}

// exists reports whether p is there, whatever it is (.git is a directory
// in a clone, a file in a submodule's checkout).
func exists(fsys fs.FS, p string) bool {
	_, err := fs.Lstat(fsys, p)
	return err == nil
}

// readRegular reads at most one byte more than MaxFileSize of p, which must
// still be a regular file when opened.
func readRegular(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("changed into something else than a regular file while being read")
	}
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}
