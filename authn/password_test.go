package authn

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// cheap are argon2id parameters for tests that check logic, not cost.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestAuthHashFormatAndVerify(t *testing.T) {
	ctx := context.Background()
	h := newHasher(DefaultParams, 0)
	enc, err := h.hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the OWASP parameters", enc)
	}
	ph, err := parseArgon2(enc)
	if err != nil || len(ph.salt) != saltLen || len(ph.key) != keyLen {
		t.Fatalf("parse %q: %+v %v", enc, ph, err)
	}
	enc2, _ := h.hash(ctx, "correct horse battery")
	if enc == enc2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	ok, rehash, err := h.verify(ctx, "correct horse battery", enc)
	if !ok || rehash || err != nil {
		t.Fatalf("verify right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	ok, _, err = h.verify(ctx, "correct horse batterY", enc)
	if ok || err != nil {
		t.Fatalf("verify wrong password: ok=%v err=%v", ok, err)
	}
}

func TestAuthRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	low := newHasher(cheap, 1)
	enc, _ := low.hash(ctx, "password-1")
	higher := newHasher(Params{Memory: 128, Time: 2, Threads: 1}, 1)
	ok, rehash, err := higher.verify(ctx, "password-1", enc)
	if !ok || !rehash || err != nil {
		t.Fatalf("old-parameter hash: ok=%v rehash=%v err=%v; want a match that asks for a rehash", ok, rehash, err)
	}
	ok, rehash, _ = higher.verify(ctx, "password-2", enc)
	if ok || rehash {
		t.Fatal("a wrong password asked for a rehash")
	}
}

func TestAuthBcryptImport(t *testing.T) {
	ctx := context.Background()
	h := newHasher(cheap, 1)
	b, err := bcrypt.GenerateFromPassword([]byte("imported-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := h.verify(ctx, "imported-pass", string(b))
	if !ok || !rehash || err != nil {
		t.Fatalf("bcrypt: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := h.verify(ctx, "imported-pasS", string(b)); ok {
		t.Fatal("bcrypt accepted a wrong password")
	}
	// A password longer than bcrypt's 72 bytes is never matched on its
	// prefix: changing byte 73 must not leave it verified.
	long := strings.Repeat("a", 72)
	b72, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if ok, _, _ := h.verify(ctx, long+"X", string(b72)); ok {
		t.Fatal("a 73-byte password matched the bcrypt hash of its first 72 bytes")
	}
	// argon2id hashes the whole password.
	enc, _ := h.hash(ctx, long+"X")
	if ok, _, _ := h.verify(ctx, long+"Y", enc); ok {
		t.Fatal("argon2id: byte 73 does not matter")
	}
}

func TestAuthRefusesHostileHashes(t *testing.T) {
	ctx := context.Background()
	h := newHasher(cheap, 1)
	for _, enc := range []string{
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5", // 4 GiB
		"$argon2id$v=19$m=64,t=100000,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=200$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$2a$31$abcdefghijklmnopqrstuuJ4m3y0Pq7Ry7J7y7J7y7J7y7J7y7J7y",
		"plaintext-password",
		"",
	} {
		ok, _, err := h.verify(ctx, "whatever-pass", enc)
		if ok || err == nil {
			t.Errorf("%q: ok=%v err=%v; want refused", enc, ok, err)
		}
	}
}

func TestAuthHashingIsBounded(t *testing.T) {
	h := newHasher(cheap, 2)
	if cap(h.sem) != 2 {
		t.Fatalf("semaphore of %d", cap(h.sem))
	}
	// With every slot taken, a hash waits, and gives up with its context.
	h.sem <- struct{}{}
	h.sem <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.hash(ctx, "password-1"); err == nil {
		t.Fatal("hash ran with every slot taken")
	}
	<-h.sem
	if _, err := h.hash(context.Background(), "password-1"); err != nil {
		t.Fatal(err)
	}
}

func TestAuthPasswordRules(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                       false,
		"1234567":                     false,
		"12345678":                    true,
		"ééééééé":                     false, // 7 characters, 14 bytes
		"éééééééé":                    true,
		strings.Repeat("x", 256):      true,
		strings.Repeat("x", 257):      false,
		strings.Repeat("x", 64) + "!": true,
	} {
		if err := ValidatePassword(pw); (err == nil) != ok {
			t.Errorf("ValidatePassword(%d chars) = %v, want ok=%v", len([]rune(pw)), err, ok)
		}
	}
}

func FuzzParseArgon2(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=,t=2$$")
	f.Fuzz(func(t *testing.T, s string) {
		ph, err := parseArgon2(s)
		if err == nil && (ph.params.valid() != nil || len(ph.salt) < 8 || len(ph.key) < 16) {
			t.Fatalf("%q parsed out of bounds: %+v", s, ph)
		}
	})
}
