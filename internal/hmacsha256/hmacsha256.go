// Package hmacsha256 is HMAC-SHA256 (RFC 2104) for a key used many times:
// the key's inner and outer blocks are computed once, and a sum needs no
// allocation. The presigners of the storage package and storage/s3 sign
// every URL with it.
package hmacsha256

import "crypto/sha256"

// Key is a keyed HMAC-SHA256: its inner and outer key blocks. The zero
// value is the empty key.
type Key struct {
	ipad, opad [sha256.BlockSize]byte
}

// New returns the Key for secret (hashed first when longer than a block,
// as RFC 2104 says).
func New(secret []byte) *Key {
	if len(secret) > sha256.BlockSize {
		h := sha256.Sum256(secret)
		secret = h[:]
	}
	k := new(Key)
	for i := range k.ipad {
		var c byte
		if i < len(secret) {
			c = secret[i]
		}
		k.ipad[i], k.opad[i] = c^0x36, c^0x5c
	}
	return k
}

// Sum returns the HMAC-SHA256 of msg: SHA-256(opad || SHA-256(ipad ||
// msg)). It allocates nothing for a message of up to 448 bytes.
func (k *Key) Sum(msg []byte) [sha256.Size]byte {
	var ib [sha256.BlockSize + 448]byte
	inner := sha256.Sum256(append(append(ib[:0], k.ipad[:]...), msg...))
	var ob [sha256.BlockSize + sha256.Size]byte
	copy(ob[:], k.opad[:])
	copy(ob[sha256.BlockSize:], inner[:])
	return sha256.Sum256(ob[:])
}
