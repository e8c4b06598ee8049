package sqlexec

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
)

const (
	passwordLen      = 40
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	scramIterations  = 4096 // PostgreSQL's default scram_iterations
)

var (
	passwordRE = regexp.MustCompile(`^[A-Za-z0-9]{32,}$`)
	verifierRE = regexp.MustCompile(`^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$`)
)

// newPassword returns passwordLen random alphanumeric characters from
// crypto/rand, without modulo bias (about 238 bits).
func newPassword() (string, error) {
	out := make([]byte, 0, passwordLen)
	buf := make([]byte, 64)
	for len(out) < passwordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			// 248 = 4*62: values above it would favour the first letters.
			if b < 248 && len(out) < passwordLen {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	p := string(out)
	if !passwordRE.MatchString(p) {
		return "", fmt.Errorf("generated password has an unexpected shape")
	}
	return p, nil
}

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores in
// pg_authid.rolpassword for password, with a fresh random salt (RFC 5802,
// RFC 7677; the format of PostgreSQL's scram_build_secret). The password is
// ASCII alphanumeric, so SASLprep leaves it unchanged.
//
// Sending the verifier instead of the password keeps the password out of
// SQL text (and so out of server logs), and the random salt makes the stored
// value unique: it identifies the role this call created.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	v := "SCRAM-SHA-256$" + strconv.Itoa(scramIterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey)
	if !verifierRE.MatchString(v) {
		return "", fmt.Errorf("SCRAM verifier has an unexpected shape")
	}
	return v, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
