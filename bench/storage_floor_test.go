package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic/storage"
	"github.com/mosaic-platform/mosaic/storage/s3"
)

// BenchmarkStoragePresignFloor: where the floor of the upload-URL target
// is. Two handlers that do part of the route's work, each against the
// empty handler in interleaved rounds at 50 connections: one that only
// presigns (with our S3 store) and answers the same bytes, and a naive
// one that decodes the body with encoding/json, presigns and encodes an
// answer with encoding/json, with no authentication, project, quota,
// request id or routing. BenchmarkStoragePresign/c=50/paired_vs_empty is
// the platform's route against the same anchor.
func BenchmarkStoragePresignFloor(b *testing.B) {
	pb := newPresignBench(b)
	env := pb.env
	st, err := s3.New(s3.Config{Endpoint: env.S3.Endpoint, AccessKey: env.S3.AccessKey, SecretKey: env.S3.SecretKey, URLStyle: s3.StylePath})
	if err != nil {
		b.Fatal(err)
	}
	put := storage.PutOptions{Expires: time.Hour, ContentType: "image/jpeg", Size: 102400}
	key := "projects/x/files/bench/photo.jpg"
	server := func(h http.HandlerFunc) func() error { return pb.serve(b, h) }
	sample, empty := pb.sample, pb.empty
	presignOnly := server(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if _, err := st.PresignPut(r.Context(), "mosaic", key, put); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(sample)
	})
	naive := server(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Filename    string `json:"filename"`
			ContentType string `json:"content_type"`
			Size        *int64 `json:"size"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		u, err := st.PresignPut(context.Background(), "mosaic", key, put)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"upload_url": u.String(), "method": "PUT", "headers": map[string]string{"Content-Type": in.ContentType},
			"filename": in.Filename, "expires_in": 3600, "expires_at": time.Now().Add(time.Hour).UTC().Truncate(time.Second)})
	})
	b.Run("c=50/presign_only_vs_empty", func(b *testing.B) { paired(b, 50, 20, 4000, presignOnly, empty) })
	b.Run("c=50/naive_json_presign_vs_empty", func(b *testing.B) { paired(b, 50, 20, 4000, naive, empty) })
}
