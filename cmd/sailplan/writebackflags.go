package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"

	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/promote/writeback"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/source"
)

// writeBackFlags turn on writing promoted candidates back to Git.
type writeBackFlags struct {
	mode                  string
	author                string
	signingKeyFile        string
	signingPassphraseFile string
}

// Write-back modes.
const (
	writeBackOff    = "off"
	writeBackPush   = "push"
	writeBackReview = "review"
)

// envSigningPassphrase is read for the signing key's passphrase when no
// file is given.
const envSigningPassphrase = "SAILPLAN_SIGNING_KEY_PASSPHRASE"

func (w *writeBackFlags) register(f *pflag.FlagSet) {
	f.StringVar(&w.mode, "write-back", writeBackOff, "when a promotion ends Promoted, commit the candidate as stable to Git: off, push (to --branch) or review (to a branch sailplan/promote/SERVICE/CANDIDATE); needs --home-context and credentials that may push")
	f.StringVar(&w.author, "write-back-author", writeback.DefaultAuthor.Name+" <"+writeback.DefaultAuthor.Email+">", "author and committer of write-back commits, as \"Name <email>\"")
	f.StringVar(&w.signingKeyFile, "write-back-signing-key-file", "", "armored OpenPGP private key that signs write-back commits (needed when the source verifies signatures)")
	f.StringVar(&w.signingPassphraseFile, "write-back-signing-passphrase-file", "", "file holding the signing key's passphrase (default $"+envSigningPassphrase+")")
}

// writer builds the write-back from the flags and the source it writes
// to; nil when it is off. Its errors name flags and files, never what is
// in them.
func (w *writeBackFlags) writer(src *source.GitSource, store *promote.Store, limits bounded.Limits, log *slog.Logger) (*writeback.Writer, error) {
	switch w.mode {
	case writeBackOff, "":
		return nil, nil
	case writeBackPush, writeBackReview:
	default:
		return nil, fmt.Errorf("--write-back %q: want off, push or review", w.mode)
	}
	if store == nil {
		return nil, errors.New("--write-back needs promotions: give --home-context")
	}
	if src.Tag != "" || src.Commit != "" {
		return nil, errors.New("--write-back needs a --branch to write to, not a --tag or --commit")
	}
	addr, err := mail.ParseAddress(w.author)
	if err != nil || addr.Name == "" {
		return nil, fmt.Errorf("--write-back-author %q: want \"Name <email>\"", w.author)
	}
	wr := &writeback.Writer{
		URL: src.URL, Branch: src.Branch, Path: src.Path, Auth: src.Auth,
		Review: w.mode == writeBackReview,
		Author: writeback.Author{Name: addr.Name, Email: addr.Address},
		Store:  store, Limits: limits, Log: log,
	}
	if w.signingKeyFile != "" {
		key, err := os.ReadFile(w.signingKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--write-back-signing-key-file: %w", err)
		}
		pass, err := secret("--write-back-signing-passphrase-file", w.signingPassphraseFile, envSigningPassphrase)
		if err != nil {
			return nil, err
		}
		if wr.SignKey, err = writeback.ReadSigningKey(key, []byte(pass)); err != nil {
			return nil, fmt.Errorf("--write-back-signing-key-file %s: %w", w.signingKeyFile, err)
		}
	} else if src.VerifyKeys != "" {
		// Its own commit would be refused by the source, and sync would
		// stop at it.
		return nil, errors.New("--write-back with --verify-keys-file needs --write-back-signing-key-file: an unsigned write-back commit would be refused")
	}
	return wr, nil
}
