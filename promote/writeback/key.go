package writeback

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// ReadSigningKey reads the armored OpenPGP private key that signs
// write-back commits, decrypting it with passphrase when it is protected.
// Its errors never quote the key.
func ReadSigningKey(armored, passphrase []byte) (*openpgp.Entity, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("signing key: not an armored OpenPGP key: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("signing key: the file holds no key")
	}
	if len(keys) > 1 {
		return nil, fmt.Errorf("signing key: %d keys, want exactly one", len(keys))
	}
	key := keys[0]
	if key.PrivateKey == nil {
		return nil, errors.New("signing key: a public key; sailplan needs the private key to sign (export it with gpg --export-secret-keys --armor)")
	}
	if key.PrivateKey.Encrypted {
		if len(passphrase) == 0 {
			return nil, errors.New("signing key: protected by a passphrase, and none is given")
		}
		if err := key.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("signing key: the passphrase does not open it: %w", err)
		}
	}
	return key, nil
}
