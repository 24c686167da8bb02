package writeback

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/source"
)

// commit makes the write-back commit on the head, or says why there is
// none for this head: Git no longer promotes this candidate, or the edit
// is not safe, or would change traffic. An error is a failure that may
// pass.
func (w *Writer) commit(ctx context.Context, r *repo, st *promote.State) (plumbing.Hash, string, error) {
	at := fmt.Sprintf("%s at %s", w.branch(), notify.Short(r.head.Hash.String()))
	files, err := source.ReadTree(ctx, r.head, w.Path)
	if err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("%s: %s: %w", w.redact(), at, err)
	}
	head, err := bounded.Load(ctx, files, w.Limits)
	if err != nil {
		// Sync refuses such a head too; once it is fixed, the next look
		// writes back on the new one.
		return plumbing.ZeroHash, "", fmt.Errorf("%s: %s does not load (fix it, and write-back follows): %w", w.redact(), at, err)
	}
	name := "services." + st.Service + ".canary"
	svc := head.Services[st.Service]
	switch {
	case svc == nil || svc.Canary == nil:
		return plumbing.ZeroHash, fmt.Sprintf("%s declares no %s any more: nothing to write", at, name), nil
	case svc.Canary.AtRest() && svc.Canary.Stable == st.Candidate:
		return plumbing.ZeroHash, fmt.Sprintf("%s already names %s stable: nothing to write", at, st.Candidate), nil
	case svc.Canary.Stable != st.Stable || svc.Canary.Candidate != st.Candidate:
		return plumbing.ZeroHash, fmt.Sprintf("%s no longer promotes %s over %s (it declares stable %q, candidate %q): nothing written; the next promotion follows Git", at, st.Candidate, st.Stable, svc.Canary.Stable, svc.Canary.Candidate), nil
	}
	file, out, err := Edit(files, st.Service, st.Stable, st.Candidate)
	var unsafe *UnsafeError
	if errors.As(err, &unsafe) {
		return plumbing.ZeroHash, fmt.Sprintf("%s: %s; make %s stable in Git by hand", at, unsafe.Reason, st.Candidate), nil
	}
	if err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("%s: %s: %w", w.redact(), at, err)
	}
	edited := maps.Clone(files)
	edited[file] = out
	reason, err := check(ctx, head, edited, st, r.head.Hash.String(), w.Limits)
	if err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("%s: %s: %w", w.redact(), at, err)
	}
	if reason != "" {
		return plumbing.ZeroHash, fmt.Sprintf("%s: %s; make %s stable in Git by hand", at, reason, st.Candidate), nil
	}
	hash, err := r.write(path.Join(w.Path, file), out, Message(st), w)
	if err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("%s: committing on %s: %w", w.redact(), at, err)
	}
	return hash, "", nil
}

// write commits the file's new content on the head.
func (r *repo) write(file string, content []byte, msg string, w *Writer) (plumbing.Hash, error) {
	wt, err := r.git.Worktree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	f, err := wt.Filesystem.Create(file)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return plumbing.ZeroHash, err
	}
	if err := f.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := wt.Add(file); err != nil {
		return plumbing.ZeroHash, err
	}
	author := w.Author
	if author.Name == "" {
		author = DefaultAuthor
	}
	sig := &object.Signature{Name: author.Name, Email: author.Email, When: w.now()}
	return wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: w.SignKey})
}

// TrailerKey starts the last line of a write-back commit's message, which
// names the promotion it writes back: a restart finds it there rather
// than writing it twice.
const TrailerKey = "Sailplan-Promotion: "

// Trailer names the promotion st in its write-back's message.
func Trailer(st *promote.State) string {
	return TrailerKey + st.Service + " " + st.Candidate + " started " + st.Started.UTC().Format(time.RFC3339)
}

// Message is the write-back commit's message: what it does, why it
// changes no traffic, the approvals and the promotion's history, and the
// trailer.
func Message(st *promote.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: make %s stable, the canary at rest\n\n", st.Service, st.Candidate)
	fmt.Fprintf(&b, "sailplan promoted %s of %s over %s in every wave: it serves all\n", st.Candidate, st.Service, st.Stable)
	fmt.Fprintf(&b, "traffic. This commit names it stable and removes the candidate, keeping\n")
	fmt.Fprintf(&b, "the plan for the next one; its sync changes no traffic.\n")
	var approvals []string
	for _, d := range st.Decisions {
		if d.Approved {
			approvals = append(approvals, fmt.Sprintf("- %d %%: %s%s, %s", d.Weight, d.By, via(d.Via), d.At.UTC().Format(time.RFC3339)))
		}
	}
	if len(approvals) > 0 {
		fmt.Fprintf(&b, "\nApproved:\n%s\n", strings.Join(approvals, "\n"))
	}
	if len(st.History) > 0 {
		b.WriteString("\nHistory:\n")
		for _, e := range st.History {
			line := fmt.Sprintf("- %s %s at %d %%", e.At.UTC().Format(time.RFC3339), e.Kind, e.Weight)
			if e.Message != "" {
				line += ": " + e.Message
			}
			if e.By != "" && !strings.Contains(e.Message, e.By) {
				line += " (" + e.By + via(e.Via) + ")"
			}
			b.WriteString(line + "\n")
		}
	}
	fmt.Fprintf(&b, "\n%s\n", Trailer(st))
	return b.String()
}

func via(v string) string {
	if v == "" {
		return ""
	}
	return " via " + v
}
