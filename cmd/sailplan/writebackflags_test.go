package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/promote/writeback"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync/source"
)

func parseWriteBackFlags(t *testing.T, args ...string) *writeBackFlags {
	t.Helper()
	w := &writeBackFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	w.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWriteBackFlags: off by default; push and review build a writer on
// the source's branch with the author given; what cannot work is refused
// at start, naming the flag.
func TestWriteBackFlags(t *testing.T) {
	store := &promote.Store{}
	src := &source.GitSource{URL: "https://git.example.com/intents.git", Branch: "prod", Path: "intents"}
	if wr, err := parseWriteBackFlags(t).writer(src, store, bounded.Limits{}, nil); wr != nil || err != nil {
		t.Errorf("by default: %v, %v; want off", wr, err)
	}
	wr, err := parseWriteBackFlags(t, "--write-back=review", "--write-back-author=Release Bot <bot@example.com>").writer(src, store, bounded.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wr.URL != src.URL || wr.Branch != "prod" || wr.Path != "intents" || !wr.Review || wr.Author != (writeback.Author{Name: "Release Bot", Email: "bot@example.com"}) {
		t.Errorf("writer %+v", wr)
	}
	key := writeSecret(t, "key.asc", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n")
	for _, tt := range []struct {
		args    []string
		src     *source.GitSource
		noStore bool
		want    string
	}{
		{[]string{"--write-back=yes"}, src, false, `--write-back "yes": want off, push or review`},
		{[]string{"--write-back=push"}, src, true, "--write-back needs promotions: give --home-context"},
		{[]string{"--write-back=push"}, &source.GitSource{URL: src.URL, Tag: "v1"}, false, "--write-back needs a --branch to write to, not a --tag or --commit"},
		{[]string{"--write-back=push", "--write-back-author=bot@example.com"}, src, false, `--write-back-author "bot@example.com": want "Name <email>"`},
		{[]string{"--write-back=push"}, &source.GitSource{URL: src.URL, VerifyKeys: "keys"}, false,
			"--write-back with --verify-keys-file needs --write-back-signing-key-file: an unsigned write-back commit would be refused"},
		{[]string{"--write-back=push", "--write-back-signing-key-file=" + key}, src, false,
			"--write-back-signing-key-file " + key + ": signing key: the file holds no key"},
	} {
		st := store
		if tt.noStore {
			st = nil
		}
		_, err := parseWriteBackFlags(t, tt.args...).writer(tt.src, st, bounded.Limits{}, nil)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.args, diff)
		}
	}
}
