package writeback

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/sailplan/sailplan/sync/source"
)

// newKey makes an OpenPGP key and returns its private key armored,
// protected by passphrase when one is given, and its public key armored.
func newKey(t *testing.T, passphrase string) (private, public string) {
	t.Helper()
	e, err := openpgp.NewEntity("sailplan", "", "sailplan@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	var priv bytes.Buffer
	w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return priv.String(), pub.String()
}

// TestReadSigningKey: a protected key opens with its passphrase only; a
// public key is refused with how to export the private one.
func TestReadSigningKey(t *testing.T) {
	priv, pub := newKey(t, "correct horse")
	if _, err := ReadSigningKey([]byte(priv), []byte("correct horse")); err != nil {
		t.Errorf("with its passphrase: %v", err)
	}
	for _, tt := range []struct{ key, pass, want string }{
		{priv, "", "signing key: protected by a passphrase, and none is given"},
		{priv, "wrong", "signing key: the passphrase does not open it"},
		{pub, "", "signing key: a public key; sailplan needs the private key to sign (export it with gpg --export-secret-keys --armor)"},
		{"not a key", "", "signing key: not an armored OpenPGP key"},
	} {
		_, err := ReadSigningKey([]byte(tt.key), []byte(tt.pass))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ReadSigningKey: %v, want %q", err, tt.want)
		}
	}
}

// TestWriteBackSigned: with a signing key, the write-back commit is
// signed, and a source that trusts only that key takes it.
func TestWriteBackSigned(t *testing.T) {
	f := newFixture(t)
	priv, pub := newKey(t, "")
	key, err := ReadSigningKey([]byte(priv), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := f.writer(f.repo.URL(), nil)
	w.SignKey = key
	wb, err := w.Write(t.Context(), f.state)
	if err != nil || wb.Commit == "" {
		t.Fatalf("write-back %+v, %v", wb, err)
	}
	src := &source.GitSource{URL: f.repo.URL(), Branch: "main", Path: "intents", VerifyKeys: pub}
	rev, err := src.Fetch(t.Context())
	if err != nil {
		t.Fatalf("the source that trusts the key: %v", err)
	}
	if rev.Commit != wb.Commit || !strings.Contains(rev.Signer, "sailplan <sailplan@example.com>") {
		t.Errorf("fetched %s signed by %q, want %s by sailplan", rev.Commit, rev.Signer, wb.Commit)
	}
}
