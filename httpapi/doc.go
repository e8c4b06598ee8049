// Package httpapi serves Mosaic's documented REST API over net/http.
//
// A Handler is built from a *mosaic.Platform and one route table. The same
// table mounts the routes, answers the discover route (GET /) and is what
// tests compare against, so the published list cannot drift from what is
// served.
//
// Mount it on any *http.ServeMux, under any prefix:
//
//	h := httpapi.New(platform, httpapi.Options{})
//	h.Mount(mux) // routes under /v1/project, and GET /healthz
//
// or by hand, next to an application's own routes:
//
//	mux.Handle("/platform/", http.StripPrefix("/platform", h))
//
// Every error is JSON: {"detail": "<human sentence>", "error": "<machine code>"}
// with the status of its errs.Kind. A 500 never carries internals; its cause is
// logged with the request id.
//
// Routing: "GET /tickets/{id}" and "GET /{slug}/info" conflict in one
// http.ServeMux, so the handler dispatches on the first path segment: account
// words (projects, tickets, keys, whoami) go to one mux, everything else is a
// project slug and goes to the other. Those words are reserved slugs.
//
// Cross-origin requests are allowed from {domain}, *.{domain} (https, or http
// when the platform's public URL is http) and from localhost, 127.0.0.1 and
// [::1] on any port; every other origin gets no CORS headers.
package httpapi
