package s3

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/storage"
)

// TestStorageS3PresignerMatchesMinio: the cached-key presigner signs
// exactly as minio-go does, for both URL styles and awkward keys.
func TestStorageS3PresignerMatchesMinio(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	compared := 0
	for _, style := range []string{StylePath, StyleVirtual} {
		st, err := New(Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "AKIA/odd key", SecretKey: "secret+/=", Region: "eu-central-1", URLStyle: style})
		if err != nil {
			t.Fatal(err)
		}
		if st.fastFor("mosaic") == nil {
			t.Fatalf("%s: no fast presigner", style)
		}
		for _, key := range []string{"a.txt", "projects/x/files/with space/ü+%&?#=;~!*'().jpg", "a/b/c"} {
			for _, size := range []int64{0, 12345} {
				for range 20 { // until both sign within the same second
					before := time.Now().Unix()
					got, err := st.PresignPut(ctx, "mosaic", key, storage.PutOptions{Expires: time.Hour, ContentType: "image/jpeg", Size: size})
					if err != nil {
						t.Fatal(err)
					}
					hdr := http.Header{"Content-Type": {"image/jpeg"}}
					if size > 0 {
						hdr.Set("Content-Length", strconv.FormatInt(size, 10))
					}
					want, err := st.presign.PresignHeader(ctx, http.MethodPut, "mosaic", key, time.Hour, nil, hdr)
					if err != nil {
						t.Fatal(err)
					}
					if time.Now().Unix() != before {
						continue
					}
					compared++
					if got.String() != want.String() {
						t.Errorf("%s PUT %q size %d:\n got %s\nwant %s", style, key, size, got, want)
					}
					g, _ := st.PresignGet(ctx, "mosaic", key, 10*time.Minute)
					w, _ := st.presign.PresignedGetObject(ctx, "mosaic", key, 10*time.Minute, nil)
					if time.Now().Unix() == before && g.String() != w.String() {
						t.Errorf("%s GET %q:\n got %s\nwant %s", style, key, g, w)
					}
					break
				}
			}
		}
	}
	if compared != 12 {
		t.Fatalf("compared %d URLs of 12", compared)
	}
}

// BenchmarkPresign: the cached-key presigner against minio-go's
// PresignHeader for the same upload URL (no I/O either way).
func BenchmarkPresign(b *testing.B) {
	ctx := context.Background()
	st, err := New(Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "minioadmin", SecretKey: "minioadmin", URLStyle: StylePath})
	if err != nil {
		b.Fatal(err)
	}
	key := "projects/0b0e7f3c-8a51-4c1e-9d8e-3f1e2a4b5c6d/files/bench/photo.jpg"
	b.Run("mosaic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			u, err := st.PresignPut(ctx, "mosaic", key, storage.PutOptions{ContentType: "image/jpeg", Size: 102400, Expires: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			_ = u.String()
		}
	})
	b.Run("minio", func(b *testing.B) {
		b.ReportAllocs()
		hdr := http.Header{"Content-Type": {"image/jpeg"}, "Content-Length": {"102400"}}
		for b.Loop() {
			u, err := st.c.PresignHeader(ctx, http.MethodPut, "mosaic", key, time.Hour, nil, hdr)
			if err != nil {
				b.Fatal(err)
			}
			_ = u.String()
		}
	})
}
