package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// corsPolicy allows browser calls from the platform's domain, its
// subdomains (where project sites live) and localhost. The Origin is parsed,
// never matched as a string prefix or substring.
type corsPolicy struct {
	domain    string
	allowHTTP bool // http origins on the domain (development setups)
}

const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsHeaders = "X-API-Key, Content-Type, Authorization, X-Request-ID"
)

// allowed reports whether origin may call the API from a browser.
func (c corsPolicy) allowed(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "http", "https":
	default:
		return false
	}
	if host == "localhost" || host == "127.0.0.1" || host == "::1" {
		return true
	}
	if c.domain == "" || (u.Scheme == "http" && !c.allowHTTP) {
		return false
	}
	if host == c.domain {
		return true
	}
	sub, ok := strings.CutSuffix(host, "."+c.domain)
	return ok && sub != "" && !strings.Contains(sub, ".") // exactly one label: {slug}.{domain}
}

// apply sets the CORS headers for an allowed origin. It answers a preflight
// request itself and then returns true.
func (c corsPolicy) apply(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !c.allowed(origin) {
		if preflight {
			writeJSON(w, http.StatusForbidden, ErrorBody{Detail: "origin " + origin + " may not call this API from a browser", Error: "cors_origin_refused"})
			return true
		}
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
	if preflight {
		w.Header().Set("Access-Control-Allow-Methods", corsMethods)
		w.Header().Set("Access-Control-Allow-Headers", corsHeaders)
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
