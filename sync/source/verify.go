package source

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// RefusedError is a commit that the source will not hand out, because it
// is not signed by a trusted key: retrying cannot change that, so callers
// keep the last good commit and do not try this one again.
type RefusedError struct {
	// URL is the repository's, without credentials.
	URL string
	// Commit is the refused commit's full hash, Author and Message its
	// author's name and its message, so that the refusal can say whose.
	Commit, Author, Message string
	// Err is why: not signed, signed by an unknown key, a bad signature.
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("git %s: commit %s: %v", e.URL, Short(e.Commit), e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// CheckKeyRing reports whether armored is an OpenPGP key ring that can
// verify anything: it parses and holds at least one public key. The
// daemon checks this at start so that a wrong file fails loudly there,
// not as "signed by unknown key" on every commit.
func CheckKeyRing(armored string) error {
	_, err := readKeyRing(armored)
	return err
}

// readKeyRing reads every armored public key block of armored: a keys file
// is often several `gpg --export --armor` outputs one after the other,
// and openpgp.ReadArmoredKeyRing would read only the first.
func readKeyRing(armored string) (openpgp.EntityList, error) {
	var keys openpgp.EntityList
	for _, text := range armoredBlocks(armored) {
		block, err := armor.Decode(strings.NewReader(text))
		if err != nil {
			return nil, fmt.Errorf("verify keys: not an armored OpenPGP key ring: %w", err)
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("verify keys: armored %q block, want %q", block.Type, openpgp.PublicKeyType)
		}
		el, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("verify keys: %w", err)
		}
		keys = append(keys, el...)
	}
	if len(keys) == 0 {
		return nil, errors.New("verify keys: not an armored OpenPGP key ring: no key found")
	}
	return keys, nil
}

// armoredBlocks splits text into its "-----BEGIN PGP ...-----" to
// "-----END PGP ...-----" blocks; armor.Decode buffers past the end of the
// first block, so each is decoded on its own.
func armoredBlocks(text string) []string {
	var blocks []string
	var cur strings.Builder
	in := false
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if !in && strings.HasPrefix(trimmed, "-----BEGIN PGP ") {
			in = true
			cur.Reset()
		}
		if in {
			cur.WriteString(line)
		}
		if in && strings.HasPrefix(trimmed, "-----END PGP ") {
			in = false
			cur.WriteString("\n")
			blocks = append(blocks, cur.String())
		}
	}
	return blocks
}

// verifyCommit checks that commit carries exactly one OpenPGP signature,
// made by a key of the armored key ring, and returns the signer. Its errors
// say why not, for a RefusedError to put after the commit: not signed,
// signed by a key that is not in the ring (with the key's ID, so an
// operator can tell whose it is), or a signature that does not match.
func verifyCommit(commit *object.Commit, armoredKeyRing string) (string, error) {
	if strings.TrimSpace(commit.PGPSignature) == "" {
		return "", errors.New("not signed")
	}
	if strings.Count(commit.PGPSignature, "-----BEGIN PGP SIGNATURE-----") > 1 {
		// As git does: several signatures have no single signer to trust.
		return "", errors.New("more than one signature")
	}
	keys, err := readKeyRing(armoredKeyRing)
	if err != nil {
		return "", err
	}
	issuer, issuerErr := signatureIssuer(commit.PGPSignature)
	if issuerErr == nil && len(keys.KeysById(issuer)) == 0 {
		return "", fmt.Errorf("signed by unknown key 0x%016X", issuer)
	}
	// What commit.Verify does, with the whole key ring rather than its
	// first armored block: the signature covers the commit object without
	// its gpgsig header.
	signed := &plumbing.MemoryObject{}
	if err := commit.EncodeWithoutSignature(signed); err != nil {
		return "", err
	}
	content, err := signed.Reader()
	if err != nil {
		return "", err
	}
	entity, err := openpgp.CheckArmoredDetachedSignature(keys, content, strings.NewReader(commit.PGPSignature), nil)
	if err != nil {
		if issuerErr != nil {
			return "", fmt.Errorf("signature not verified: %w", err)
		}
		return "", fmt.Errorf("signature by key 0x%016X not valid: %w", issuer, err)
	}
	signer := fmt.Sprintf("0x%016X", entity.PrimaryKey.KeyId)
	if id := entity.PrimaryIdentity(); id != nil {
		signer += " " + id.Name
	}
	return signer, nil
}

// signatureIssuer is the key ID an armored detached signature names.
func signatureIssuer(armored string) (uint64, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return 0, err
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return 0, err
	}
	sig, ok := p.(*packet.Signature)
	if !ok || sig.IssuerKeyId == nil {
		return 0, errors.New("signature names no issuer key")
	}
	return *sig.IssuerKeyId, nil
}
