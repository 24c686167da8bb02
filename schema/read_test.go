package schema

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree writes files (slash paths -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// errorLines is err's lines, which must be Errors.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T), want Errors", err, err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

const linkHint = " (hint: validate and the daemon read regular files only, in a working tree as in Git, and nothing outside the intent directory: replace the link with a copy of the file)"

// TestReadDirRefuses: no link is followed, wherever it points, and every
// link, pipe or oversized file among the intent files is reported at once;
// what is not an intent file is not looked at.
func TestReadDirRefuses(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"ext.cue": "package intents\nservices: ext: {}\n"})
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"a.cue":                "package intents\n",
		"team/b.cue":           "package intents\n",
		"big.cue":              "//" + strings.Repeat("x", MaxFileSize-2) + "\n", // one byte over
		".hidden/c.cue":        "ignored",
		"cue.mod/module.cue":   "ignored",
		"vendor/sub/.git":      "gitdir: ../../.git/modules/sub\n", // a submodule's checkout
		"vendor/sub/d.cue":     "not read: the daemon does not fetch submodules",
		"vendor/keep/keep.cue": "package intents\n",
	})
	symlink(t, filepath.Join(outside, "ext.cue"), filepath.Join(root, "ext.cue"))
	symlink(t, "/etc/passwd", filepath.Join(root, "passwd.cue"))
	symlink(t, "a.cue", filepath.Join(root, "team", "again.cue"))
	symlink(t, "../a.cue", filepath.Join(root, "team", "up.cue"))
	symlink(t, outside, filepath.Join(root, "shared"))                 // a directory: not walked
	symlink(t, "/etc/passwd", filepath.Join(root, "README.md"))        // not an intent file
	symlink(t, "/etc/passwd", filepath.Join(root, ".hidden", "x.cue")) // in a hidden directory
	if err := syscall.Mkfifo(filepath.Join(root, "pipe.cue"), 0o644); err != nil {
		t.Fatal(err)
	}

	files, err := ReadDir(t.Context(), root)
	if files != nil {
		t.Errorf("files = %v, want none with an error", files)
	}
	want := []string{
		"big.cue: 1048577 bytes, more than the 1 MiB allowed per intent file (hint: split it into smaller files; generated or vendored data does not belong in the intent directory)",
		"ext.cue: symbolic link to " + filepath.Join(outside, "ext.cue") + ", which sailplan does not follow" + linkHint,
		"passwd.cue: symbolic link to /etc/passwd, which sailplan does not follow" + linkHint,
		"pipe.cue: named pipe, not a regular file (hint: intent files must be regular files)",
		"team/again.cue: symbolic link to a.cue, which sailplan does not follow" + linkHint,
		"team/up.cue: symbolic link to ../a.cue, which sailplan does not follow" + linkHint,
	}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// Without them, what is read is the regular intent files, and nothing
	// behind the directory link, in the hidden directory or the submodule.
	for _, p := range []string{"big.cue", "ext.cue", "passwd.cue", "pipe.cue", "team/again.cue", "team/up.cue"} {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	files, err = ReadDir(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := Files{"a.cue": []byte("package intents\n"), "team/b.cue": []byte("package intents\n"), "vendor/keep/keep.cue": []byte("package intents\n")}
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// TestReadDirRoot: the directory given may itself be a link
// (the user named it); only what is under it follows the rule. A path
// that is not a directory is an I/O error naming it.
func TestReadDirRoot(t *testing.T) {
	real := t.TempDir()
	writeTree(t, real, map[string]string{"a.cue": "package intents\n"})
	link := filepath.Join(t.TempDir(), "intents")
	symlink(t, real, link)
	files, err := ReadDir(t.Context(), link)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["a.cue"]; !ok || len(files) != 1 {
		t.Errorf("files = %v, want a.cue", files)
	}

	missing := filepath.Join(real, "missing")
	_, err = ReadDir(t.Context(), missing)
	if err == nil || !strings.HasPrefix(err.Error(), "reading intents in "+missing+": ") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(missing) = %v, want an error naming it that wraps fs.ErrNotExist", err)
	}
}

// TestFileSetTotal: past the total, nothing more is read, the sizes are
// still added up, and the error is the same whatever the order of the
// walk.
func TestFileSetTotal(t *testing.T) {
	ctx := context.Background()
	for _, order := range [][]string{{"a.cue", "b.cue", "c.cue"}, {"c.cue", "b.cue", "a.cue"}} {
		s := NewFileSet()
		s.maxFile, s.maxTotal = 10, 20
		reads := 0
		for _, p := range order {
			err := s.Add(ctx, p, 0, 8, func() ([]byte, error) { reads++; return []byte("12345678"), nil })
			if err != nil {
				t.Fatal(err)
			}
		}
		if reads != 2 {
			t.Errorf("order %v: %d files read, want 2: the third passes the total", order, reads)
		}
		_, err := s.Files()
		want := []string{".: the intent files add up to 24 bytes, more than the 20 bytes allowed in all (hint: keep generated or vendored data out of the intent directory, or split the intents into several roots, each with its own daemon)"}
		if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
			t.Errorf("order %v: errors (-want +got):\n%s", order, diff)
		}
	}
}

// TestFileSetAdd covers what a walk cannot easily make: a file that grew
// after it was listed, a link too long to quote, names that would break
// the one-line errors, modes Git does not write, a read that fails and a
// cancelled context.
func TestFileSetAdd(t *testing.T) {
	ctx := context.Background()
	s := NewFileSet()
	s.maxFile = 10
	content := func(b string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(b), nil } }
	noRead := func() ([]byte, error) { t.Error("read called"); return nil, nil }
	for _, e := range []struct {
		p    string
		mode fs.FileMode
		size int64
		read func() ([]byte, error)
	}{
		{"grew.cue", 0, 4, content("12345678901")},
		{"long.cue", fs.ModeSymlink | 0o777, maxLinkTarget + 1, noRead},
		{"new\nline.cue", fs.ModeSymlink, 9, content("/etc/\npasswd")},
		{"odd.cue", fs.ModeIrregular, 1, noRead},
		{"dev.cue", fs.ModeDevice | fs.ModeCharDevice, 0, noRead},
		{"sock.cue", fs.ModeSocket, 0, noRead},
		{"blk.cue", fs.ModeDevice, 0, noRead},
		{"notes.txt", fs.ModeNamedPipe, 0, noRead},
		{"ok.cue", 0o755, 3, content("abc")},
	} {
		if err := s.Add(ctx, e.p, e.mode, e.size, e.read); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Files()
	want := []string{
		"blk.cue: device, not a regular file (hint: intent files must be regular files)",
		"dev.cue: character device, not a regular file (hint: intent files must be regular files)",
		"grew.cue: 11 bytes, more than the 10 bytes allowed per intent file (hint: split it into smaller files; generated or vendored data does not belong in the intent directory)",
		"long.cue: symbolic link to a target of 4097 bytes, which sailplan does not follow" + linkHint,
		`"new\nline.cue": symbolic link to "/etc/\npasswd", which sailplan does not follow` + linkHint,
		"odd.cue: irregular file, not a regular file (hint: intent files must be regular files)",
		"sock.cue: socket, not a regular file (hint: intent files must be regular files)",
	}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if s.total != 3 {
		t.Errorf("total = %d, want 3: only ok.cue counts", s.total)
	}

	failing := errors.New("disk on fire")
	if err := NewFileSet().Add(ctx, "x.cue", 0, 1, func() ([]byte, error) { return nil, failing }); !errors.Is(err, failing) || !strings.HasPrefix(err.Error(), "x.cue: ") {
		t.Errorf("a failing read = %v, want it wrapped after the path", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := NewFileSet().Add(cancelled, "x.cue", 0, 1, noRead); !errors.Is(err, context.Canceled) {
		t.Errorf("Add on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestFileSetDir(t *testing.T) {
	s := NewFileSet()
	for p, want := range map[string]bool{".": true, "team": true, "a/b": true, "cue.mod": false, "a/cue.mod": false, ".git": false, "a/.x": false} {
		if got := s.Dir(p, false); got != want {
			t.Errorf("Dir(%q) = %v, want %v", p, got, want)
		}
	}
	if s.Dir("vendor/sub", true) {
		t.Error("a submodule is walked")
	}
}
