package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mosaic-platform/mosaic/internal/hmacsha256"
)

// presigner computes SigV4 query-string signatures
// (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html)
// for one endpoint. It keeps, per day, the signing key (as an
// hmacsha256.Key) and the encoded credential, and it builds
// the canonical request in one stack buffer: a URL costs one SHA-256 of
// the canonical request and one HMAC, with no allocation but the URL
// itself, where minio-go's Presign derives the key with four HMACs and
// builds the request through url.Values and http.Header on every call
// (BenchmarkPresign). The contract suite checks its URLs against a real
// server, and a test checks that it signs exactly as minio-go does.
type presigner struct {
	scheme, host string // the endpoint's
	virtual      bool   // bucket in the host name
	access       string
	secret       string
	region       string

	mu  sync.Mutex
	day *signingDay
}

// signingDay is what every URL signed on one day shares.
type signingDay struct {
	day        string          // yyyymmdd
	key        *hmacsha256.Key // the day's signing key
	scope      string          // day/region/s3/aws4_request
	credential string          // URI-encoded access/scope
}

const (
	amzDate = "20060102T150405Z"
	amzDay  = "20060102"
)

// signing returns what the URLs of day (yyyymmdd) share.
func (p *presigner) signing(day []byte) *signingDay {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.day == nil || p.day.day != string(day) {
		k := hmacSHA256([]byte("AWS4"+p.secret), string(day))
		k = hmacSHA256(k, p.region)
		k = hmacSHA256(k, "s3")
		k = hmacSHA256(k, "aws4_request")
		sd := &signingDay{day: string(day), key: hmacsha256.New(k), scope: string(day) + "/" + p.region + "/s3/aws4_request"}
		sd.credential = string(appendURIEncoded(nil, p.access+"/"+sd.scope, false))
		p.day = sd
	}
	return p.day
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// appendURIEncoded appends SigV4's URI encoding of s: everything but
// A-Z a-z 0-9 - _ . ~ (and "/" when path is true) as %XX.
func appendURIEncoded(b []byte, s string, path bool) []byte {
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (path && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexd[c>>4], hexd[c&15])
	}
	return b
}

// presign returns the URL of method on bucket/key, valid for expires from
// now, with the given signed headers besides host (lowercase names,
// sorted, without host: "content-length", "content-type").
func (p *presigner) presign(method, bucket, key string, expires time.Duration, now time.Time, hdrNames, hdrValues []string) *url.URL {
	now = now.UTC()
	var stampBuf [16]byte
	stamp := now.AppendFormat(stampBuf[:0], amzDate)
	sd := p.signing(stamp[:8])
	host := p.host
	if p.virtual {
		host = bucket + "." + p.host
	}

	// One buffer: the path, then the query, then the rest of the
	// canonical request; path and query are slices of it. It lives on
	// the stack unless the key is long.
	var buf [1024]byte
	b := append(buf[:0], method...)
	b = append(b, '\n')
	pathAt := len(b)
	b = append(b, '/')
	if !p.virtual {
		b = append(b, bucket...)
		b = append(b, '/')
	}
	b = appendURIEncoded(b, key, true)
	pathEnd := len(b)
	b = append(b, '\n')
	queryAt := len(b)
	b = append(b, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="...)
	b = append(b, sd.credential...)
	b = append(b, "&X-Amz-Date="...)
	b = append(b, stamp...)
	b = append(b, "&X-Amz-Expires="...)
	b = strconv.AppendInt(b, int64(expires/time.Second), 10)
	b = append(b, "&X-Amz-SignedHeaders="...)
	signedAt := len(b)
	for _, n := range hdrNames {
		b = append(b, n...)
		b = append(b, "%3B"...) // ";"
	}
	b = append(b, "host"...)
	queryEnd := len(b)
	b = append(b, '\n')
	for i, n := range hdrNames {
		b = append(b, n...)
		b = append(b, ':')
		b = appendTrimmedValue(b, hdrValues[i])
		b = append(b, '\n')
	}
	b = append(b, "host:"...)
	b = append(b, host...)
	b = append(b, "\n\n"...)
	// The signed-header list again, with ";" as itself.
	for i := signedAt; i < queryEnd; i++ {
		if b[i] == '%' && i+2 < queryEnd && b[i+1] == '3' && b[i+2] == 'B' {
			b = append(b, ';')
			i += 2
			continue
		}
		b = append(b, b[i])
	}
	b = append(b, "\nUNSIGNED-PAYLOAD"...)
	sum := sha256.Sum256(b)

	var sts [160]byte
	st := append(sts[:0], "AWS4-HMAC-SHA256\n"...)
	st = append(st, stamp...)
	st = append(st, '\n')
	st = append(st, sd.scope...)
	st = append(st, '\n')
	st = hex.AppendEncode(st, sum[:])
	sig := sd.key.Sum(st)

	// One string holds the path and the query: "/bucket/key?query".
	var out strings.Builder
	out.Grow(pathEnd - pathAt + 1 + queryEnd - queryAt + len("&X-Amz-Signature=") + 2*sha256.Size)
	out.Write(b[pathAt:pathEnd])
	out.WriteByte('?')
	out.Write(b[queryAt:queryEnd])
	out.WriteString("&X-Amz-Signature=")
	var sigHex [2 * sha256.Size]byte
	hex.Encode(sigHex[:], sig[:])
	out.Write(sigHex[:])
	whole := out.String()
	rawPath, query := whole[:pathEnd-pathAt], whole[pathEnd-pathAt+1:]
	u := &url.URL{Scheme: p.scheme, Host: host, RawQuery: query}
	if strings.IndexByte(rawPath, '%') < 0 {
		// Only unreserved characters and "/": the path is its own
		// escaped form, in SigV4's encoding and in net/url's.
		u.Path = rawPath
	} else if dec, err := url.PathUnescape(rawPath); err == nil {
		u.Path, u.RawPath = dec, rawPath
	} else {
		u.RawPath = rawPath
	}
	return u
}

// appendTrimmedValue appends a header value as SigV4 canonicalises it:
// leading and trailing spaces trimmed, inner runs of spaces as one.
func appendTrimmedValue(b []byte, v string) []byte {
	first := true
	for f := range strings.FieldsSeq(v) {
		if !first {
			b = append(b, ' ')
		}
		b = append(b, f...)
		first = false
	}
	return b
}
