package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustProxies returns a handler that, for requests whose peer is one of
// the trusted reverse proxies, sets r.RemoteAddr to the client the proxies
// name in X-Forwarded-For before calling next. Everything keyed by the
// client's address then sees the end user instead of the proxy: the per-IP
// throttles of login, password reset and magic links, the git login
// throttle, and the access log's "remote".
//
// The client is the right-most address of X-Forwarded-For that is not a
// trusted proxy (each proxy appends the peer it saw, so every address to
// the left of that one was written by the client and may be forged). When
// every address is trusted, the left-most is taken. A request from a peer
// that is not trusted, or whose header does not parse, keeps its
// RemoteAddr: the header is then the client's own claim and is ignored.
// With no trusted prefixes, TrustProxies returns next itself.
func TrustProxies(next http.Handler, trusted ...netip.Prefix) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	t := proxySet(trusted)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client, ok := t.client(r); ok {
			r2 := *r // shallow: only RemoteAddr changes
			r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

type proxySet []netip.Prefix

func (t proxySet) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the end user's address, when the peer is a trusted proxy
// and X-Forwarded-For names one.
func (t proxySet) client(r *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !t.trusts(peer.Addr()) {
		return netip.Addr{}, false
	}
	var hops []netip.Addr
	for _, line := range r.Header.Values("X-Forwarded-For") {
		for f := range strings.SplitSeq(line, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil {
				return netip.Addr{}, false
			}
			hops = append(hops, a.Unmap())
		}
	}
	if len(hops) == 0 {
		return netip.Addr{}, false
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !t.trusts(hops[i]) {
			return hops[i], true
		}
	}
	return hops[0], true
}

// ParseProxies reads a comma-separated list of addresses and CIDR prefixes
// ("10.0.0.0/8, 127.0.0.1, ::1"), as MOSAIC_TRUSTED_PROXIES holds them.
func ParseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or a CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
