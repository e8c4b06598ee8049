package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mosaic-platform/mosaic/errs"
)

// TestDecodeJSONErrors: every way a body can be wrong gets its own clear
// message, and a good body decodes with what follows the value ignored
// only when it is JSON whitespace.
func TestDecodeJSONErrors(t *testing.T) {
	type in struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	cases := []struct {
		body, kind, detail string
	}{
		{``, "invalid", "must be a JSON object"},
		{" \n\t ", "invalid", "must be a JSON object"},
		{`{"name": `, "invalid", "truncated JSON"},
		{`{"name":"a"} {"name":"b"}`, "invalid", "nothing after it"},
		{`{"name":"a"}x`, "invalid", "nothing after it"},
		{`{"name":}`, "invalid", "not valid JSON (at byte 9)"},
		{`["x"]`, "invalid", "must be a JSON object, not array"},
		{`{"n": "3"}`, "invalid", `field "n" must be a number, not string`},
		{`{"name": "` + strings.Repeat("a", 100) + `"}`, "too_large", "larger than 64 bytes"},
		{"{\"name\": \"ok\", \"n\": 3}\r\n", "", ""},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 64)
		var v in
		err := decodeJSON(r, &v)
		if tc.kind == "" {
			if err != nil || v.Name != "ok" || v.N != 3 {
				t.Errorf("%q: %+v %v", tc.body, v, err)
			}
			continue
		}
		e := errs.As(err)
		if e == nil || e.Kind.String() != tc.kind || !strings.Contains(e.Detail, tc.detail) {
			t.Errorf("%q: %v, want %s %q", tc.body, err, tc.kind, tc.detail)
		}
	}
}
