package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mosaic-platform/mosaic"
)

var uploadBodies = []string{
	`{"filename": "bench/photo.jpg", "content_type": "image/jpeg", "size": 102400}`,
	`{"filename":"a.txt"}`,
	` {"filename":"a.txt","expires":600,"size":3} `,
	"{\n\t\"filename\": \"dir/ü ñ.txt\",\r\n\"expires\": null}",
	`{}`,
	`{"filename":"a","filename":"b","size":1,"size":null,"expires":null,"expires":7}`,
	`{"size":-0}`,
	// Not the plain case: encoding/json decides (and words any error).
	`{"filename":"a\"b"}`,
	`{"filename":"a\u0041"}`,
	`{"Filename":"a.txt"}`,
	`{"filename":"a.txt","other":1}`,
	`{"filename":null}`,
	`{"size":1.5}`,
	`{"size":1e3}`,
	`{"size":012}`,
	`{"size":9223372036854775808}`,
	`{"size":-}`,
	`{"size":"3"}`,
	`{"filename":"a.txt",}`,
	`{"filename":"a.txt"} x`,
	`{"filename":"a.txt"}{}`,
	`{"filename":"a` + "\xff" + `"}`,
	`{"filename":"a` + "\x01" + `"}`,
	`[]`,
	`null`,
	``,
	`{"filename":"a.txt"`,
	`{"size":nul}`,
	`{"size":nullx}`,
}

// FuzzUploadRequestDecode: the upload body's fast path decodes exactly
// what encoding/json does, or declines and changes nothing.
func FuzzUploadRequestDecode(f *testing.F) {
	for _, b := range uploadBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast UploadRequest
		if !fast.decodeFast(b) {
			if !reflect.DeepEqual(fast, UploadRequest{}) {
				t.Fatalf("%q: declined but changed the value: %+v", b, fast)
			}
			return
		}
		var want UploadRequest
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: fast path accepted what encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q: fast %s, encoding/json %s", b, show(fast), show(want))
		}
	})
}

func show(u UploadRequest) string {
	b, _ := json.Marshal(u)
	return string(b)
}

// TestUploadRequestFastPathTaken: the bodies clients send take the fast
// path (else FuzzUploadRequestDecode would hold of a path never taken).
func TestUploadRequestFastPathTaken(t *testing.T) {
	for _, b := range uploadBodies[:7] {
		var u UploadRequest
		if !u.decodeFast([]byte(b)) {
			t.Errorf("%q: not decoded by the fast path", b)
		}
	}
	var u UploadRequest
	if !u.decodeFast([]byte(uploadBodies[0])) || u.Filename != "bench/photo.jpg" || u.ContentType != "image/jpeg" || u.Size == nil || *u.Size != 102400 || u.Expires != nil {
		t.Fatalf("decoded %s", show(u))
	}
}

// FuzzUploadURLEncode: the upload answer's fast encoder writes exactly
// what writeJSON's encoding/json path writes, or declines.
func FuzzUploadURLEncode(f *testing.F) {
	f.Add("http://127.0.0.1:9000/mosaic/projects/x/files/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", "PUT", "Content-Type", "image/jpeg", "", "", "a.jpg", int64(3600), int64(1795000000), int64(0), 0)
	f.Add("u", "PUT", "Content-Type", "text/plain", "Content-Length", "3", "dir/ü.txt", int64(1), int64(1795000000), int64(123456789), 1)
	f.Add("u<&>", "PUT", "B", "x\"y", "A", "\u2028", "a\\b\n", int64(-5), int64(-70000000000), int64(5), 2)
	f.Add("u", "PUT", "", "", "", "", "", int64(0), int64(253402300800), int64(0), 3)
	f.Fuzz(func(t *testing.T, url, method, k1, v1, k2, v2, name string, expiresIn, unix, nanos int64, variant int) {
		u := &mosaic.UploadURL{UploadURL: url, Method: method, Filename: name, ExpiresIn: expiresIn,
			ExpiresAt: time.Unix(unix, nanos%1e9).UTC()}
		switch variant & 3 {
		case 0:
			u.Headers = map[string]string{k1: v1}
		case 1:
			u.Headers = map[string]string{k1: v1, k2: v2}
		case 2:
			u.Headers = map[string]string{k1: v1, k2: v2, k1 + k2 + "x": "3"}
			u.ExpiresAt = u.ExpiresAt.In(time.FixedZone("odd", int(nanos%100000)))
		}
		got, ok := uploadURLJSON{u}.appendJSON(nil)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		err := enc.Encode(uploadURLJSON{u})
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast encoder wrote what encoding/json refuses (%v): %s", err, got)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("fast:\n%s\nencoding/json:\n%s", got, want.Bytes())
		}
	})
}

// TestUploadURLFastPathTaken: the platform's answers take the fast path.
func TestUploadURLFastPathTaken(t *testing.T) {
	u := &mosaic.UploadURL{UploadURL: "http://127.0.0.1:9000/mosaic/projects/x/files/a.jpg?X-Amz-Expires=3600&X-Amz-Signature=ab",
		Method: "PUT", Headers: map[string]string{"Content-Type": "image/jpeg"}, Filename: "a.jpg", ExpiresIn: 3600,
		ExpiresAt: time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)}
	got, ok := uploadURLJSON{u}.appendJSON(nil)
	if !ok {
		t.Fatal("declined")
	}
	want := `{"upload_url":"http://127.0.0.1:9000/mosaic/projects/x/files/a.jpg?X-Amz-Expires=3600&X-Amz-Signature=ab","method":"PUT","headers":{"Content-Type":"image/jpeg"},"filename":"a.jpg","expires_in":3600,"expires_at":"2026-11-23T20:00:00Z"}` + "\n"
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
