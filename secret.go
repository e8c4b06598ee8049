package mosaic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// sealer encrypts small secrets (tenant database passwords) at rest with
// AES-256-GCM under a key derived from the platform secret key. The
// associated data binds a ciphertext to its row, so a sealed value copied
// into another row does not open.
type sealer struct{ aead cipher.AEAD }

const sealVersion = 1

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < 16 {
		return nil, errors.New("mosaic: the secret key must be at least 16 bytes")
	}
	h := sha256.New()
	h.Write([]byte("mosaic/seal/v1\x00"))
	h.Write(secret)
	block, err := aes.NewCipher(h.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plaintext, ad []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return s.aead.Seal(out, out[1:], plaintext, ad)
}

func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, errors.New("mosaic: sealed value has an unknown format")
	}
	return s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
}
