package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/authn"
	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func TestTrustProxiesClientAddress(t *testing.T) {
	trusted, err := httpapi.ParseProxies("127.0.0.1, 10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	h := httpapi.TrustProxies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }), trusted...)
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"127.0.0.1:5000", nil, "127.0.0.1:5000"},
		{"127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9:0"},
		{"[::1]:5000", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"[::ffff:127.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9:0"},
		// The client wrote the left part; the right-most untrusted hop is the one a proxy saw.
		{"127.0.0.1:5000", []string{"1.2.3.4, 198.51.100.7, 10.1.2.3"}, "198.51.100.7:0"},
		{"127.0.0.1:5000", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7:0"},
		// Every hop trusted: the left-most.
		{"127.0.0.1:5000", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5:0"},
		// A peer that is not a trusted proxy: its header is ignored.
		{"192.0.2.1:5000", []string{"203.0.113.9"}, "192.0.2.1:5000"},
		// A header that does not parse is ignored whole.
		{"127.0.0.1:5000", []string{"203.0.113.9, nonsense"}, "127.0.0.1:5000"},
		{"127.0.0.1:5000", []string{""}, "127.0.0.1:5000"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "1.2.3"} {
		if _, err := httpapi.ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
	if ps, err := httpapi.ParseProxies(" , "); err != nil || len(ps) != 0 {
		t.Errorf("an empty list: %v %v", ps, err)
	}
}

// TestTrustProxiesPerIPThrottle: behind a trusted proxy the per-IP login
// throttle counts each end user on their own; without one, a forged
// X-Forwarded-For does not get a client past it.
func TestTrustProxiesPerIPThrottle(t *testing.T) {
	t.Parallel()
	env := mosaictest.New(t, mosaictest.WithConfig(func(c *mosaic.Config) {
		c.Auth.Params = authn.Params{Memory: 64, Time: 1, Threads: 1}
		c.AuthLimits = mosaic.DefaultAuthLimits
		c.AuthLimits.LoginPerIP = 3
	}))
	cp := env.Project(t)
	api := httpapi.New(env.Platform, httpapi.Options{})
	mux := http.NewServeMux()
	api.Mount(mux)
	loop, _ := httpapi.ParseProxies("127.0.0.1, ::1")
	behind := httptest.NewServer(httpapi.TrustProxies(mux, loop...))
	defer behind.Close()

	n := 0
	login := func(base, xff string) int {
		n++
		body := fmt.Sprintf(`{"email": "nobody%d@example.com", "password": "wrong-password"}`, n)
		req, _ := http.NewRequest("POST", base+"/"+cp.Slug+"/auth/login", bytes.NewBufferString(body))
		req.Header.Set("X-API-Key", env.APIKey)
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if s := login(behind.URL+api.Prefix(), "203.0.113.1"); s != 401 {
			t.Fatalf("login %d from 203.0.113.1: %d", i, s)
		}
	}
	if s := login(behind.URL+api.Prefix(), "203.0.113.1"); s != 429 {
		t.Fatalf("4th login from 203.0.113.1: %d, want 429", s)
	}
	if s := login(behind.URL+api.Prefix(), "203.0.113.2"); s != 401 {
		t.Fatalf("another end user behind the same proxy: %d, want 401 (not throttled)", s)
	}
	// The plain server trusts no proxy: every request is from 127.0.0.1,
	// whatever the header says.
	for i := range 3 {
		if s := login(env.BaseURL, fmt.Sprintf("198.51.100.%d", i)); s != 401 {
			t.Fatalf("direct login %d: %d", i, s)
		}
	}
	if s := login(env.BaseURL, "198.51.100.99"); s != 429 {
		t.Fatalf("a forged X-Forwarded-For got past the throttle: %d", s)
	}
}
