package storage_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/storage"
)

// TestStorageLocalURLFormat pins the local store's presigned URLs: the
// signed message, the query and the path, computed here the long way
// (url.Values, hmac.New), so that a faster signer issues exactly the URLs
// that older ones did and that stores already running still accept.
func TestStorageLocalURLFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Unix(1795000000, 0)
	for _, secret := range []string{"0123456789abcdef0123", strings.Repeat("long secret ", 10)} {
		for _, base := range []string{"http://127.0.0.1:8080/s3", "https://files.example.com", "http://h/my%20files"} {
			st, err := storage.NewLocal(storage.LocalConfig{Dir: t.TempDir(), BaseURL: base, Secret: []byte(secret), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			bu, _ := url.Parse(base)
			for _, key := range []string{"a.txt", "projects/x/files/dir/photo.jpg", "sp ace/ü+%&?#=;~!*'()$,@:.jpg", strings.Repeat(strings.Repeat("k", 200)+"/", 4) + "end"} {
				for _, o := range []storage.PutOptions{
					{Expires: time.Hour, ContentType: "image/jpeg", Size: 102400},
					{Expires: 10 * time.Second, ContentType: "text/plain; charset=utf-8", MaxSize: 5000},
					{Expires: 7 * 24 * time.Hour},
				} {
					got, err := st.PresignPut(ctx, "mosaic", key, o)
					if err != nil {
						t.Fatal(err)
					}
					ct := o.ContentType
					if ct == "" {
						ct = storage.DefaultContentType
					}
					size, max := o.Size, o.MaxSize
					if size > 0 {
						max = 0
					}
					exp := now.Add(o.Expires).Unix()
					q := url.Values{}
					q.Set("X-Mosaic-Expires", strconv.FormatInt(exp, 10))
					q.Set("X-Mosaic-Content-Type", ct)
					if size > 0 {
						q.Set("X-Mosaic-Size", strconv.FormatInt(size, 10))
					} else if max > 0 {
						q.Set("X-Mosaic-Max-Size", strconv.FormatInt(max, 10))
					}
					q.Set("X-Mosaic-Signature", longSign(secret, http.MethodPut, "mosaic", key, exp, ct, size, max))
					if want := longURL(bu, "mosaic", key, q); got.String() != want {
						t.Errorf("PUT %q %+v:\n got %s\nwant %s", key, o, got, want)
					}
				}
				got, err := st.PresignGet(ctx, "mosaic", key, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				exp := now.Add(time.Minute).Unix()
				q := url.Values{}
				q.Set("X-Mosaic-Expires", strconv.FormatInt(exp, 10))
				q.Set("X-Mosaic-Signature", longSign(secret, http.MethodGet, "mosaic", key, exp, "", 0, 0))
				if want := longURL(bu, "mosaic", key, q); got.String() != want {
					t.Errorf("GET %q:\n got %s\nwant %s", key, got, want)
				}
			}
		}
	}
}

func longSign(secret, method, bucket, key string, exp int64, ct string, size, max int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "mosaic-presign-v1\n%s\n%s\n%s\n%d\n%s\n%d\n%d", method, bucket, key, exp, ct, size, max)
	return hex.EncodeToString(m.Sum(nil))
}

func longURL(base *url.URL, bucket, key string, q url.Values) string {
	u := *base
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u.RawPath = u.Path + "/" + bucket + "/" + strings.Join(segs, "/")
	u.Path = u.Path + "/" + bucket + "/" + key
	u.RawQuery = q.Encode()
	return u.String()
}

// BenchmarkLocalPresign: one upload URL from the local store (no I/O).
func BenchmarkLocalPresign(b *testing.B) {
	st, err := storage.NewLocal(storage.LocalConfig{Dir: b.TempDir(), BaseURL: "http://127.0.0.1:8080/s3", Secret: []byte("0123456789abcdef0123")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	key := "projects/0b0e7f3c-8a51-4c1e-9d8e-3f1e2a4b5c6d/files/bench/photo.jpg"
	b.ReportAllocs()
	for b.Loop() {
		u, err := st.PresignPut(ctx, "mosaic", key, storage.PutOptions{ContentType: "image/jpeg", Size: 102400, Expires: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		_ = u.String()
	}
}
