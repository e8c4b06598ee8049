// Package s3 is a storage.Store on an S3-compatible server (MinIO, AWS S3,
// and others), built on minio-go.
//
// The region is always set (default "us-east-1"), so presigning is local
// computation: no request reaches the server until a client uses the URL.
// New does no I/O either; MakeBucket creates the bucket when it is missing.
//
//	st, err := s3.New(s3.Config{Endpoint: "127.0.0.1:9000", AccessKey: "...", SecretKey: "..."})
//	p, err := mosaic.New(ctx, mosaic.Config{..., Storage: st})
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/storage"
)

// URL styles: how a bucket appears in a request's URL.
const (
	StyleAuto    = ""        // minio-go decides: virtual-host for AWS and similar, path otherwise
	StylePath    = "path"    // http://endpoint/bucket/key
	StyleVirtual = "virtual" // http://bucket.endpoint/key
)

// Config configures a Store.
type Config struct {
	// Endpoint is the server's host[:port], or a URL whose scheme sets
	// Secure ("https://s3.example.com"). Required.
	Endpoint string
	// AccessKey and SecretKey are the credentials. Required.
	AccessKey string
	SecretKey string
	// Secure uses TLS (ignored when Endpoint is a URL).
	Secure bool
	// Region is the bucket's region (default "us-east-1"). Always set, so
	// that presigning needs no GetBucketLocation round trip.
	Region string
	// URLStyle is StyleAuto, StylePath or StyleVirtual.
	URLStyle string
	// PublicEndpoint, when set, is the host[:port] or URL that presigned
	// URLs name, when clients reach the server by another address than
	// the platform does (SigV4 signs the host, so the URL must be signed for it).
	PublicEndpoint string
	// Transport is the HTTP transport (default minio-go's).
	Transport http.RoundTripper
}

// Store is a storage.Store on one S3 server.
type Store struct {
	c       *minio.Client
	presign *minio.Client // the client whose host the URLs name
	region  string
	style   string
	fast    *presigner // nil for AWS endpoints, whose hosts minio-go rewrites per region
	virtual sync.Map   // bucket → bool, for StyleAuto with fast
}

var (
	_ storage.Store       = (*Store)(nil)
	_ storage.BucketMaker = (*Store)(nil)
)

func endpoint(ep string, secure bool) (host string, tls bool, err error) {
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
			return "", false, fmt.Errorf("s3: endpoint %q must be host[:port] or an http(s) URL without a path", ep)
		}
		return u.Host, u.Scheme == "https", nil
	}
	if ep == "" || strings.ContainsAny(ep, "/?#@ ") {
		return "", false, fmt.Errorf("s3: endpoint %q must be host[:port] or an http(s) URL without a path", ep)
	}
	return ep, secure, nil
}

// New returns a Store. It does no I/O.
func New(cfg Config) (*Store, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: AccessKey and SecretKey are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	var lookup minio.BucketLookupType
	switch cfg.URLStyle {
	case StyleAuto:
		lookup = minio.BucketLookupAuto
	case StylePath:
		lookup = minio.BucketLookupPath
	case StyleVirtual:
		lookup = minio.BucketLookupDNS
	default:
		return nil, fmt.Errorf("s3: URLStyle %q: use %q, %q or empty", cfg.URLStyle, StylePath, StyleVirtual)
	}
	mk := func(ep string) (*minio.Client, error) {
		host, tls, err := endpoint(ep, cfg.Secure)
		if err != nil {
			return nil, err
		}
		return minio.New(host, &minio.Options{
			Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
			Secure:       tls,
			Region:       cfg.Region,
			BucketLookup: lookup,
			Transport:    cfg.Transport,
		})
	}
	c, err := mk(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	s := &Store{c: c, presign: c, region: cfg.Region, style: cfg.URLStyle}
	pub := cfg.Endpoint
	if cfg.PublicEndpoint != "" {
		if s.presign, err = mk(cfg.PublicEndpoint); err != nil {
			return nil, err
		}
		pub = cfg.PublicEndpoint
	}
	host, tls, _ := endpoint(pub, cfg.Secure)
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if !s3utils.IsAmazonEndpoint(url.URL{Scheme: scheme, Host: host}) {
		s.fast = &presigner{scheme: scheme, host: host, access: cfg.AccessKey, secret: cfg.SecretKey, region: cfg.Region, virtual: cfg.URLStyle == StyleVirtual}
	}
	return s, nil
}

// fastFor returns the presigner for bucket's URLs, or nil to use minio-go.
func (s *Store) fastFor(bucket string) *presigner {
	f := s.fast
	if f == nil || s.style != StyleAuto {
		return f
	}
	// Auto: as minio-go decides (virtual-host style only for the big
	// clouds' endpoints and DNS-safe bucket names).
	v, ok := s.virtual.Load(bucket)
	if !ok {
		v = s3utils.IsVirtualHostSupported(url.URL{Scheme: f.scheme, Host: f.host}, bucket)
		s.virtual.Store(bucket, v)
	}
	if v.(bool) {
		return nil
	}
	return f
}

// Client returns the underlying minio-go client.
func (s *Store) Client() *minio.Client { return s.c }

// MakeBucket creates bucket when it does not exist.
func (s *Store) MakeBucket(ctx context.Context, bucket string) error {
	if err := storage.CheckBucket(bucket); err != nil {
		return err
	}
	err := s.c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return nil
		}
		return s.err(err, "")
	}
	return nil
}

func check(bucket, key string) error {
	if err := storage.CheckBucket(bucket); err != nil {
		return err
	}
	return storage.CheckKey(key)
}

// PresignPut returns a SigV4 URL for one PUT. Content-Type, and
// Content-Length when o.Size > 0, are signed headers: a PUT that sends
// others is refused by the server. o.MaxSize is not enforced.
func (s *Store) PresignPut(ctx context.Context, bucket, key string, o storage.PutOptions) (*url.URL, error) {
	if err := check(bucket, key); err != nil {
		return nil, err
	}
	if err := storage.CheckExpires(o.Expires); err != nil {
		return nil, err
	}
	if o.ContentType == "" {
		o.ContentType = storage.DefaultContentType
	}
	if err := storage.CheckContentType(o.ContentType); err != nil {
		return nil, err
	}
	if o.Size < 0 {
		return nil, errs.New(errs.Invalid, "invalid_size", "a size cannot be negative")
	}
	if f := s.fastFor(bucket); f != nil {
		if o.Size > 0 {
			return f.presign(http.MethodPut, bucket, key, o.Expires, time.Now(), []string{"content-length", "content-type"},
				[]string{strconv.FormatInt(o.Size, 10), o.ContentType}), nil
		}
		return f.presign(http.MethodPut, bucket, key, o.Expires, time.Now(), []string{"content-type"}, []string{o.ContentType}), nil
	}
	hdr := http.Header{"Content-Type": {o.ContentType}}
	if o.Size > 0 {
		hdr.Set("Content-Length", strconv.FormatInt(o.Size, 10))
	}
	u, err := s.presign.PresignHeader(ctx, http.MethodPut, bucket, key, o.Expires, nil, hdr)
	if err != nil {
		return nil, s.err(err, key)
	}
	return u, nil
}

// PresignGet returns a SigV4 URL that reads the object.
func (s *Store) PresignGet(ctx context.Context, bucket, key string, expires time.Duration) (*url.URL, error) {
	if err := check(bucket, key); err != nil {
		return nil, err
	}
	if err := storage.CheckExpires(expires); err != nil {
		return nil, err
	}
	if f := s.fastFor(bucket); f != nil {
		return f.presign(http.MethodGet, bucket, key, expires, time.Now(), nil, nil), nil
	}
	u, err := s.presign.PresignedGetObject(ctx, bucket, key, expires, nil)
	if err != nil {
		return nil, s.err(err, key)
	}
	return u, nil
}

// Put uploads an object (multipart when large or of unknown size).
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error {
	if err := check(bucket, key); err != nil {
		return err
	}
	if contentType == "" {
		contentType = storage.DefaultContentType
	}
	if err := storage.CheckContentType(contentType); err != nil {
		return err
	}
	_, err := s.c.PutObject(ctx, bucket, key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return s.err(err, key)
	}
	return nil
}

func info(o minio.ObjectInfo) storage.ObjectInfo {
	ct := o.ContentType
	if ct == "" {
		ct = o.UserMetadata["content-type"]
	}
	if ct == "" {
		ct = o.UserMetadata["Content-Type"]
	}
	return storage.ObjectInfo{Key: o.Key, Size: o.Size, ContentType: ct, LastModified: o.LastModified, ETag: strings.Trim(o.ETag, `"`)}
}

// Get opens an object. The reader is a *minio.Object: an io.ReadSeeker and
// io.ReaderAt that fetches ranges on demand.
func (s *Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, storage.ObjectInfo, error) {
	if err := check(bucket, key); err != nil {
		return nil, storage.ObjectInfo{}, err
	}
	obj, err := s.c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, storage.ObjectInfo{}, s.err(err, key)
	}
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, storage.ObjectInfo{}, s.err(err, key)
	}
	return obj, info(st), nil
}

// Stat describes an object (a HEAD request).
func (s *Store) Stat(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	if err := check(bucket, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	st, err := s.c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return storage.ObjectInfo{}, s.err(err, key)
	}
	return info(st), nil
}

// List yields the objects under prefix in key order (recursively). The
// content type comes with the listing on MinIO (its metadata extension);
// other servers list without it, and it is then empty.
func (s *Store) List(ctx context.Context, bucket, prefix string) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		if err := storage.CheckBucket(bucket); err != nil {
			yield(storage.ObjectInfo{}, err)
			return
		}
		if err := storage.CheckPrefix(prefix); err != nil {
			yield(storage.ObjectInfo{}, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for o := range s.c.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithMetadata: true}) {
			if o.Err != nil {
				if minio.ToErrorResponse(o.Err).Code == "NoSuchBucket" {
					return // an empty listing, as for Local
				}
				yield(storage.ObjectInfo{}, s.err(o.Err, prefix))
				return
			}
			if !yield(info(o), nil) {
				return
			}
		}
	}
}

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := check(bucket, key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return s.err(err, key)
	}
	return nil
}

// err classifies a minio-go error before anything wraps it (ToErrorResponse
// does not see through wrapping).
func (s *Store) err(err error, key string) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		return storage.NotFound(key)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return errs.Wrap(errs.Unavailable, err, "storage_unavailable", "object storage refused the platform's credentials")
	case "EntityTooLarge":
		return errs.Wrap(errs.TooLarge, err, "object_too_large", "the file is too large")
	case "InvalidArgument", "XMinioInvalidObjectName", "KeyTooLongError":
		return errs.Wrap(errs.Invalid, err, "invalid_key", "object storage refused the file name")
	}
	if resp.StatusCode == http.StatusNotFound {
		return storage.NotFound(key)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) ||
		resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway || resp.StatusCode >= 500 {
		return errs.Wrap(errs.Unavailable, err, "storage_unavailable", "object storage is unavailable")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Wrap(errs.Unavailable, err, "canceled", "the request was canceled")
	}
	return errs.Internalf(err, "object storage")
}
