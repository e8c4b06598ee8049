// Package storage is Mosaic's object storage: the Store interface that the
// platform keeps project files and static sites in, the local-filesystem
// implementation (Local), and the helpers that serve objects over HTTP.
//
// # Implementations
//
// Local keeps objects under a directory and serves its own presigned URLs
// (HMAC-signed, expiring, bound to the method, key, content type and size):
// the embedded default, so the same API works with no S3 server. Package
// storage/s3 is the S3 implementation on minio-go, for MinIO or any
// S3-compatible service; it lives in its own package so that a program that
// does not use it does not link minio-go. Package storage/storagetest is the
// contract test suite both pass.
//
// # Keys
//
// CheckKey is the one rule for object keys, applied by every Store method
// here: 1 to 1024 bytes of UTF-8, relative, with no empty, "." or ".."
// segment, no control character and no backslash. Keys are never
// normalised; a key is stored exactly as given or refused with an Invalid
// error.
//
// # Static sites
//
// A site file's path must pass CheckSitePath, which is stricter: letters,
// digits and "._~@+-" per segment, no dot-files (except under .well-known),
// and one of these extensions, each served with a fixed Content-Type chosen
// by the extension, never by the uploader:
//
//	from the API reference: .html .css .js .json .txt .svg .png .jpg .jpeg .gif .ico .webp
//	added:                  .htm .mjs (same as .html, .js)
//	                        .map .webmanifest .xml .md .csv (data and text the browser displays)
//	                        .avif .woff .woff2 .ttf .otf .mp3 .ogg .wav .mp4 .webm .pdf .wasm
//	                        (images, fonts, media, documents and WebAssembly: passive content,
//	                        or, for .wasm, code that runs only when the site's own script loads it)
//
// Server-side code (.php, .cgi, ...), executables, archives and anything
// without an extension are refused: Mosaic never runs site files, and a
// type the browser would download or guess at has no place on a static site.
// Every file is served with X-Content-Type-Options: nosniff. Sites live on
// their own host, {slug}.{domain}, so one project's scripts never run in
// another project's origin or the API's.
//
// ServeObject serves one object with ETag, Last-Modified, 304s, Range, HEAD
// and optional gzip; the platform's site handler and Local's URL handler
// both use it.
package storage
