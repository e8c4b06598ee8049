package httpapi

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mosaic-platform/mosaic"
)

// The upload-URL route (POST /{slug}/storage/upload) has a throughput
// target against an empty handler (bench/README.md, issue 4), and
// encoding/json's reflection was a third of its handler's CPU. So its
// request and answer have hand-written codecs for the plain case: a body
// of the four known members, with strings that hold no escape or control
// character and integer numbers, in; an answer whose strings need no
// escaping out. Anything else (escapes,
// unknown or differently cased members, floats, deep values, errors) goes
// to encoding/json, which also writes every error message. The fuzz tests
// in fastjson_test.go hold both codecs to encoding/json's exact results.

// fastDecoder is a request type with a fast path for plain bodies:
// decodeFast fills the value and reports true, or reports false having
// changed nothing, and decodeJSON then runs encoding/json.
type fastDecoder interface {
	decodeFast(b []byte) bool
}

// fastEncoder is an answer that can append its own JSON (with the
// trailing newline json.Encoder writes), or reports false.
type fastEncoder interface {
	appendJSON(b []byte) ([]byte, bool)
}

// decodeFast decodes into a zero UploadRequest, as decodeJSON's callers pass.
func (in *UploadRequest) decodeFast(b []byte) bool {
	var out UploadRequest
	var expires, size int64
	var hasExpires, hasSize bool // the last value of each was a number, not null
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			key, j, ok := plainBytes(b, i)
			if !ok {
				return false
			}
			i = skipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i = skipSpace(b, i+1)
			switch string(key) { // no allocation for a switch
			case "filename", "content_type":
				v, j, ok := plainBytes(b, i)
				if !ok {
					return false
				}
				s := string(v)
				if string(key) == "filename" {
					out.Filename = s
				} else {
					out.ContentType = s
				}
				i = j
			case "expires", "size":
				n, null, j, ok := plainInt(b, i)
				if !ok {
					return false
				}
				if string(key) == "expires" {
					expires, hasExpires = n, !null
				} else {
					size, hasSize = n, !null
				}
				i = j
			default:
				return false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return false
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return false
	}
	// As Unmarshal: the last of repeated members wins; null leaves a
	// pointer nil.
	if hasExpires {
		out.Expires = &expires
	}
	if hasSize {
		out.Size = &size
	}
	*in = out
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainBytes reads a JSON string at b[i] with no escapes and no control
// characters, in valid UTF-8: one whose bytes are its value.
func plainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:j]) {
				return nil, 0, false
			}
			return b[start:j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// plainInt reads null or a JSON integer (no fraction or exponent) that
// fits an int64.
func plainInt(b []byte, i int) (n int64, null bool, end int, ok bool) {
	if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
		return 0, true, i + 4, true
	}
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	digits := j
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	if j == digits || (b[digits] == '0' && j-digits > 1) {
		return 0, false, 0, false // no digits, or a leading zero
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, false, 0, false
	}
	n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
	if err != nil {
		return 0, false, 0, false
	}
	return n, false, j, true
}

// uploadURLJSON is the upload route's answer, with its fast encoder.
type uploadURLJSON struct{ *mosaic.UploadURL }

func (u uploadURLJSON) appendJSON(b []byte) ([]byte, bool) {
	if len(u.Headers) > 2 {
		return b, false
	}
	ok := true
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
				ok = false
				return
			}
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	b = append(b, `{"upload_url":`...)
	str(u.UploadURL.UploadURL)
	b = append(b, `,"method":`...)
	str(u.Method)
	b = append(b, `,"headers":`...)
	if u.Headers == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		first := true
		ks, n := sortedKeys2(u.Headers)
		for _, k := range ks[:n] {
			if !first {
				b = append(b, ',')
			}
			first = false
			str(k)
			b = append(b, ':')
			str(u.Headers[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"filename":`...)
	str(u.Filename)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, u.ExpiresIn, 10)
	b = append(b, `,"expires_at":"`...)
	if y := u.ExpiresAt.Year(); y < 0 || y > 9999 {
		return b, false // MarshalJSON's error
	}
	if _, off := u.ExpiresAt.Zone(); off%60 != 0 {
		return b, false // MarshalJSON's error too
	}
	b = u.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	return b, ok
}

// sortedKeys2 returns the n keys of a map of at most two, sorted, without
// allocating.
func sortedKeys2(m map[string]string) (ks [2]string, n int) {
	for k := range m {
		ks[n] = k
		n++
	}
	if n == 2 && ks[1] < ks[0] {
		ks[0], ks[1] = ks[1], ks[0]
	}
	return ks, n
}
