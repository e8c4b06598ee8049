package hmacsha256

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// TestSumMatchesCryptoHMAC: the same sums as crypto/hmac, for keys shorter
// than, as long as and longer than a block, and messages on either side of
// the stack buffer's size.
func TestSumMatchesCryptoHMAC(t *testing.T) {
	for _, kl := range []int{0, 1, 16, 32, 63, 64, 65, 200} {
		for _, ml := range []int{0, 1, 55, 56, 64, 150, 447, 448, 449, 5000} {
			key, msg := make([]byte, kl), make([]byte, ml)
			rand.Read(key)
			rand.Read(msg)
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			got := New(key).Sum(msg)
			if !bytes.Equal(got[:], m.Sum(nil)) {
				t.Fatalf("key %d bytes, message %d bytes: sums differ", kl, ml)
			}
		}
	}
}

func BenchmarkSum(b *testing.B) {
	k := New([]byte("0123456789abcdef0123456789abcdef"))
	msg := bytes.Repeat([]byte("x"), 150)
	b.ReportAllocs()
	for b.Loop() {
		k.Sum(msg)
	}
}
