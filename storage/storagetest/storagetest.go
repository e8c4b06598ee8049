// Package storagetest is the contract test suite of storage.Store: every
// implementation runs it, so they behave the same to the platform.
//
//	func TestContract(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) (storage.Store, string) {
//			return newStore(t), "bucket"
//		})
//	}
//
// Presigned URLs are used with a real net/http client, so the store's URLs
// must be reachable (for storage.Local, serve its Handler at its BaseURL).
// Each subtest works under a prefix of its own, so the suite can share a
// bucket with other tests.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/storage"
)

// NewStore returns the store under test and a bucket to use.
type NewStore func(t *testing.T) (storage.Store, string)

// Run runs the contract suite.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	setup := func(t *testing.T) (storage.Store, string, string) {
		t.Helper()
		t.Parallel()
		st, bucket := newStore(t)
		if bm, ok := st.(storage.BucketMaker); ok {
			if err := bm.MakeBucket(ctx, bucket); err != nil {
				t.Fatalf("MakeBucket: %v", err)
			}
		}
		return st, bucket, "contract-" + randHex(6) + "/"
	}

	t.Run("PutGetStat", func(t *testing.T) {
		st, b, pre := setup(t)
		body := []byte("hello, objects")
		before := time.Now().Add(-time.Minute)
		if err := st.Put(ctx, b, pre+"dir/hello.txt", bytes.NewReader(body), int64(len(body)), "text/plain"); err != nil {
			t.Fatal(err)
		}
		rc, info, err := st.Get(ctx, b, pre+"dir/hello.txt")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("Get = %q, want %q", got, body)
		}
		checkInfo(t, info, pre+"dir/hello.txt", int64(len(body)), "text/plain", before)
		if _, ok := rc.(io.ReadSeeker); !ok {
			t.Errorf("Get's reader %T is not an io.ReadSeeker", rc)
		}
		si, err := st.Stat(ctx, b, pre+"dir/hello.txt")
		if err != nil {
			t.Fatal(err)
		}
		checkInfo(t, si, pre+"dir/hello.txt", int64(len(body)), "text/plain", before)
		if si.ETag != info.ETag {
			t.Errorf("Stat ETag %q != Get ETag %q", si.ETag, info.ETag)
		}

		// Overwrite: new size, new ETag, same key.
		body2 := []byte("shorter")
		if err := st.Put(ctx, b, pre+"dir/hello.txt", bytes.NewReader(body2), -1, ""); err != nil {
			t.Fatal(err)
		}
		si2, err := st.Stat(ctx, b, pre+"dir/hello.txt")
		if err != nil {
			t.Fatal(err)
		}
		checkInfo(t, si2, pre+"dir/hello.txt", int64(len(body2)), storage.DefaultContentType, before)
		if si2.ETag == si.ETag {
			t.Errorf("ETag did not change on overwrite: %q", si2.ETag)
		}
	})

	t.Run("Seek", func(t *testing.T) {
		st, b, pre := setup(t)
		body := []byte("0123456789abcdefghij")
		if err := st.Put(ctx, b, pre+"s.bin", bytes.NewReader(body), int64(len(body)), ""); err != nil {
			t.Fatal(err)
		}
		rc, _, err := st.Get(ctx, b, pre+"s.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		rs := rc.(io.ReadSeeker)
		if n, err := rs.Seek(0, io.SeekEnd); err != nil || n != int64(len(body)) {
			t.Fatalf("Seek(0, End) = %d, %v", n, err)
		}
		if _, err := rs.Seek(10, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(rs, buf); err != nil || string(buf) != "abcde" {
			t.Fatalf("read after Seek(10) = %q, %v", buf, err)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		st, b, pre := setup(t)
		if _, _, err := st.Get(ctx, b, pre+"nope"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Get missing: %v, want NotFound", err)
		}
		if _, err := st.Stat(ctx, b, pre+"nope"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Stat missing: %v, want NotFound", err)
		}
		if err := st.Delete(ctx, b, pre+"nope"); err != nil {
			t.Errorf("Delete missing: %v, want nil", err)
		}
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		st, b, pre := setup(t)
		keys := []string{"a-b.txt", "a/b.txt", "a/c/d.txt", "ab.txt", "b.txt", "ünï cødé.txt"}
		for i, k := range keys {
			body := strings.Repeat("x", i+1)
			if err := st.Put(ctx, b, pre+k, strings.NewReader(body), int64(len(body)), "text/plain"); err != nil {
				t.Fatalf("Put %s: %v", k, err)
			}
		}
		// A neighbour outside the prefix must never show.
		other := strings.TrimSuffix(pre, "/") + "x/a.txt"
		if err := st.Put(ctx, b, other, strings.NewReader("o"), 1, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Delete(ctx, b, other) })

		got := list(t, st, b, pre)
		want := []string{}
		for _, k := range keys {
			want = append(want, pre+k)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("List(%q) =\n%q\nwant\n%q", pre, got, want)
		}
		for info, err := range st.List(ctx, b, pre+"a/c/") {
			if err != nil {
				t.Fatal(err)
			}
			if info.Key != pre+"a/c/d.txt" || info.Size != 3 {
				t.Errorf("List a/c/: %+v", info)
			}
		}
		if got := list(t, st, b, pre+"a"); len(got) != 4 {
			t.Errorf("List(%q) = %q, want 4 keys (a-b, a/b, a/c/d, ab)", pre+"a", got)
		}
		if got := list(t, st, b, pre+"zzz/"); len(got) != 0 {
			t.Errorf("List of an empty prefix = %q", got)
		}
		for _, k := range keys {
			if err := st.Delete(ctx, b, pre+k); err != nil {
				t.Fatalf("Delete %s: %v", k, err)
			}
		}
		if got := list(t, st, b, pre); len(got) != 0 {
			t.Errorf("after deleting all, List = %q", got)
		}
		if _, err := st.Stat(ctx, b, pre+"a/c/d.txt"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Stat after Delete: %v", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		st, b, pre := setup(t)
		for _, k := range []string{"", "/abs", pre + "a/../b", "..", pre + "./x", pre + "a//b", pre + "dir/", pre + "nul\x00x",
			pre + "nl\nx", pre + `back\slash`, strings.Repeat("k", storage.MaxKeyBytes+1), "bad\xffutf8"} {
			if err := st.Put(ctx, b, k, strings.NewReader("x"), 1, ""); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("Put(%q): %v, want Invalid", k, err)
			}
			if _, err := st.PresignPut(ctx, b, k, storage.PutOptions{Expires: time.Minute}); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("PresignPut(%q): %v, want Invalid", k, err)
			}
			if _, err := st.PresignGet(ctx, b, k, time.Minute); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("PresignGet(%q): %v, want Invalid", k, err)
			}
			if _, _, err := st.Get(ctx, b, k); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("Get(%q): %v, want Invalid", k, err)
			}
			if err := st.Delete(ctx, b, k); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("Delete(%q): %v, want Invalid", k, err)
			}
		}
		// 1024 bytes in segments of at most 200 (filesystems cap a name at 255).
		long := pre
		for len(long) < storage.MaxKeyBytes-201 {
			long += strings.Repeat("k", 199) + "/"
		}
		long += strings.Repeat("k", storage.MaxKeyBytes-len(long))
		if err := st.Put(ctx, b, long, strings.NewReader("x"), 1, ""); err != nil {
			t.Errorf("a key of exactly %d bytes: %v", storage.MaxKeyBytes, err)
		}
		st.Delete(ctx, b, long)
		for _, d := range []time.Duration{0, time.Millisecond, storage.MaxExpires + time.Second} {
			if _, err := st.PresignGet(ctx, b, pre+"x", d); !errors.Is(err, errs.ErrInvalid) {
				t.Errorf("PresignGet expires %s: %v, want Invalid", d, err)
			}
		}
		if _, err := st.PresignPut(ctx, b, pre+"x", storage.PutOptions{Expires: time.Minute, ContentType: "text/plain\r\nX-Evil: 1"}); !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("PresignPut with a header-injecting content type: %v, want Invalid", err)
		}
	})

	t.Run("PresignedRoundTrip", func(t *testing.T) {
		st, b, pre := setup(t)
		for _, key := range []string{pre + "photos/cat.jpg", pre + "with space/ü+%&?#=.bin"} {
			body := bytes.Repeat([]byte{0, 1, 2, 0xff}, 4096)
			u, err := st.PresignPut(ctx, b, key, storage.PutOptions{Expires: time.Hour, ContentType: "image/jpeg", Size: int64(len(body))})
			if err != nil {
				t.Fatal(err)
			}
			if code, msg := put(t, u, "image/jpeg", body); code != http.StatusOK {
				t.Fatalf("PUT %s: %d %s", key, code, msg)
			}
			info, err := st.Stat(ctx, b, key)
			if err != nil {
				t.Fatalf("Stat after presigned PUT of %q: %v", key, err)
			}
			if info.Size != int64(len(body)) || info.ContentType != "image/jpeg" {
				t.Errorf("after presigned PUT: %+v", info)
			}
			g, err := st.PresignGet(ctx, b, key, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			resp := get(t, g, nil)
			if resp.code != http.StatusOK || !bytes.Equal(resp.body, body) {
				t.Fatalf("GET presigned: %d, %d bytes (want %d)", resp.code, len(resp.body), len(body))
			}
			if resp.header.Get("Content-Type") != "image/jpeg" {
				t.Errorf("GET Content-Type = %q", resp.header.Get("Content-Type"))
			}
			r := get(t, g, http.Header{"Range": {"bytes=4-7"}})
			if r.code != http.StatusPartialContent || !bytes.Equal(r.body, body[4:8]) {
				t.Errorf("GET Range: %d %x", r.code, r.body)
			}
		}
		// Unsized upload URL.
		u, err := st.PresignPut(ctx, b, pre+"free.txt", storage.PutOptions{Expires: time.Hour, ContentType: "text/plain"})
		if err != nil {
			t.Fatal(err)
		}
		if code, msg := put(t, u, "text/plain", []byte("any length")); code != http.StatusOK {
			t.Fatalf("PUT unsized: %d %s", code, msg)
		}
		if info, err := st.Stat(ctx, b, pre+"free.txt"); err != nil || info.Size != 10 {
			t.Errorf("Stat: %+v %v", info, err)
		}
	})

	t.Run("PresignedRefused", func(t *testing.T) {
		st, b, pre := setup(t)
		key := pre + "secret/a.txt"
		if err := st.Put(ctx, b, key, strings.NewReader("secret a"), 8, "text/plain"); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, b, pre+"secret/b.txt", strings.NewReader("secret b"), 8, "text/plain"); err != nil {
			t.Fatal(err)
		}
		g, err := st.PresignGet(ctx, b, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if r := get(t, g, nil); r.code != http.StatusOK || string(r.body) != "secret a" {
			t.Fatalf("untampered GET: %d %q", r.code, r.body)
		}
		// Another key under the same signature.
		other := *g
		other.Path = strings.Replace(other.Path, "a.txt", "b.txt", 1)
		other.RawPath = ""
		if r := get(t, &other, nil); r.code != http.StatusForbidden {
			t.Errorf("GET with the key changed: %d %q, want 403", r.code, r.body)
		}
		// A changed signature.
		bad := *g
		q := bad.Query()
		for name, v := range q {
			if strings.Contains(strings.ToLower(name), "signature") {
				sig := []byte(v[0])
				sig[0] ^= 1
				if sig[0] > 'f' || sig[0] < '0' {
					sig[0] = '0'
				}
				if string(sig) == v[0] {
					sig[0] = '1'
				}
				q.Set(name, string(sig))
			}
		}
		bad.RawQuery = q.Encode()
		if r := get(t, &bad, nil); r.code != http.StatusForbidden {
			t.Errorf("GET with the signature changed: %d %q, want 403", r.code, r.body)
		}
		// A GET URL used for PUT.
		if code, _ := put(t, g, "text/plain", []byte("overwrite")); code != http.StatusForbidden {
			t.Errorf("PUT to a GET URL: %d, want 403", code)
		}
		// A PUT URL with another content type, or another size.
		u, err := st.PresignPut(ctx, b, pre+"up.txt", storage.PutOptions{Expires: time.Hour, ContentType: "text/plain", Size: 5})
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := put(t, u, "text/html", []byte("hello")); code != http.StatusForbidden {
			t.Errorf("PUT with another Content-Type: %d, want 403", code)
		}
		if code, _ := put(t, u, "text/plain", []byte("hello, longer")); code != http.StatusForbidden {
			t.Errorf("PUT with another size: %d, want 403", code)
		}
		if _, err := st.Stat(ctx, b, pre+"up.txt"); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("a refused PUT stored the object: %v", err)
		}
		if r := get(t, g, nil); string(r.body) != "secret a" {
			t.Errorf("object changed by refused PUTs: %q", r.body)
		}
		// Expired.
		short, err := st.PresignGet(ctx, b, key, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond)
		if r := get(t, short, nil); r.code != http.StatusForbidden {
			t.Errorf("GET after expiry: %d %q, want 403", r.code, r.body)
		}
		// Deleted: the URL no longer finds it.
		if err := st.Delete(ctx, b, key); err != nil {
			t.Fatal(err)
		}
		if r := get(t, g, nil); r.code != http.StatusNotFound {
			t.Errorf("GET after Delete: %d, want 404", r.code)
		}
	})
}

func checkInfo(t *testing.T, info storage.ObjectInfo, key string, size int64, ct string, after time.Time) {
	t.Helper()
	if info.Key != key || info.Size != size || info.ContentType != ct || info.ETag == "" ||
		info.LastModified.Before(after) || info.LastModified.After(time.Now().Add(time.Minute)) {
		t.Errorf("info = %+v, want key %q size %d type %q, an ETag and a recent time", info, key, size, ct)
	}
}

func list(t *testing.T, st storage.Store, b, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range st.List(context.Background(), b, prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

type answer struct {
	code   int
	body   []byte
	header http.Header
}

func get(t *testing.T, u *url.URL, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b, resp.Header}
}

func put(t *testing.T, u *url.URL, ct string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, fmt.Sprintf("%.300s", b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
