package httpapi

import (
	"errors"
	"net"
	"net/http"
	"path"
	"strings"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/storage"
)

// SitesPath is where Mount serves project sites by path, for local use:
// /sites/{slug}/... is the site of {slug}.{domain}.
const SitesPath = "/sites/"

// Sites serves project sites: a request whose Host is {slug}.{domain} (the
// platform's Domain; any port) goes to the project's running deployment
// (Platform.ServeApp: a reverse proxy; a stopped app answers 503), or,
// when it has none, is answered from the project's site files; every
// other request goes to next. /sites/{slug}/ (SitesPath) serves the static
// files only: an app expects to be served at the root of its host. Host names of the platform itself
// (a reserved slug, such as api or www) go to next too.
//
//	srv := &http.Server{Handler: h.Sites(mux)}
func (h *Handler) Sites(next http.Handler) http.Handler {
	suffix := "." + strings.ToLower(strings.TrimSuffix(h.p.Domain(), "."))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug, ok := siteSlug(r.Host, suffix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		// A running deployment answers first (any method: it is the
		// project's app); without one, the project's static site files.
		if h.p.ServeApp(w, r, slug) {
			return
		}
		h.serveSite(w, r, slug, r.URL.Path)
	})
}

// siteSlug returns the slug of a site host: one label before suffix that
// is a valid, unreserved slug.
func siteSlug(host, suffix string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	label, ok := strings.CutSuffix(host, suffix)
	if !ok || label == "" || strings.Contains(label, ".") || mosaic.ValidateSlug(label) != nil {
		return "", false
	}
	return label, true
}

// sitesByPath serves /sites/{slug}/... (mounted at SitesPath, unstripped).
func (h *Handler) sitesByPath() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, SitesPath)
		slug, file, ok := strings.Cut(rest, "/")
		if !ok {
			if mosaic.ValidateSlug(slug) != nil {
				sitePageNotFound(w, r)
				return
			}
			target := SitesPath + slug + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		h.serveSite(w, r, slug, "/"+file)
	})
}

// serveSite answers one request for a site: urlPath is the decoded path
// ("/" serves index.html, "/docs/" docs/index.html). Only GET and HEAD;
// no directory listings; a missing file gets the site's 404.html with
// status 404, or a plain 404 page.
func (h *Handler) serveSite(w http.ResponseWriter, r *http.Request, slug, urlPath string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(urlPath, "/")
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	ctx := r.Context()
	rc, info, err := h.p.OpenSiteFile(ctx, slug, name)
	if errors.Is(err, errs.ErrNotFound) && path.Ext(name) == "" {
		// "/docs" when "/docs/index.html" exists: redirect, so relative links work.
		if rc2, _, err2 := h.p.OpenSiteFile(ctx, slug, name+"/index.html"); err2 == nil {
			rc2.Close()
			target := path.Base(urlPath) + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
	}
	if errors.Is(err, errs.ErrNotFound) {
		if rc, info, err := h.p.OpenSiteFile(ctx, slug, "404.html"); err == nil {
			defer rc.Close()
			storage.ServeObject(w, r, rc, info, storage.ServeOptions{Status: http.StatusNotFound})
			return
		}
		sitePageNotFound(w, r)
		return
	}
	if err != nil {
		status := errs.KindOf(err).Status()
		if status == http.StatusInternalServerError {
			h.log.ErrorContext(ctx, "site file", "slug", slug, "path", name, "err", err)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer rc.Close()
	storage.ServeObject(w, r, rc, info, storage.ServeOptions{Gzip: true, CacheControl: "public, max-age=0, must-revalidate"})
}

const notFoundPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>404 Not Found</title></head>
<body><h1>404 Not Found</h1><p>There is no page at this address.</p></body></html>
`

func sitePageNotFound(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		w.Write([]byte(notFoundPage))
	}
}
