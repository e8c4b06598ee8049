package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mosaic-platform/mosaic/errs"
)

// Storage calls a project's object storage routes (/{slug}/storage/*).
// Get one with Client.Storage.
type Storage struct {
	c    *Client
	slug string
}

// Storage returns the object storage API of the project slug.
func (c *Client) Storage(slug string) *Storage { return &Storage{c: c, slug: slug} }

// escPath escapes each segment of a file name for a URL path.
func escPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// StoredFile is a file as the storage routes show it.
type StoredFile struct {
	Filename     string    `json:"filename"`
	Size         int64     `json:"size"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
	URL          string    `json:"url,omitempty"`
}

// StorageUsage is a project's storage against its plan (files and site together).
type StorageUsage struct {
	UsedBytes  int64   `json:"used_bytes"`
	LimitBytes int64   `json:"limit_bytes"`
	Used       string  `json:"used"`
	Limit      string  `json:"limit"`
	Percent    float64 `json:"percent"`
	FilesBytes int64   `json:"files_bytes"`
	SiteBytes  int64   `json:"site_bytes"`
}

// FileList is the answer of GET /{slug}/storage/files.
type FileList struct {
	Files     []StoredFile `json:"files"`
	Truncated bool         `json:"truncated"`
	Usage     StorageUsage `json:"usage"`
}

// UploadRequest asks for an upload URL. Expires is in seconds (0: the
// server's default, one hour); Size, when > 0, is bound to the URL.
type UploadRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"`
	Expires     int64  `json:"expires,omitempty"`
	Size        int64  `json:"size,omitempty"`
}

// UploadURL is a presigned upload: PUT the bytes to UploadURL with Headers.
type UploadURL struct {
	UploadURL string            `json:"upload_url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	Filename  string            `json:"filename"`
	ExpiresIn int64             `json:"expires_in"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// DownloadURL is a presigned download URL.
type DownloadURL struct {
	Filename    string `json:"filename"`
	DownloadURL string `json:"download_url"`
	Method      string `json:"method"`
	ExpiresIn   int64  `json:"expires_in"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// List lists the files whose names start with prefix, with the usage.
func (s *Storage) List(ctx context.Context, prefix string) (*FileList, error) {
	p := "/" + esc(s.slug) + "/storage/files"
	if prefix != "" {
		p += "?prefix=" + url.QueryEscape(prefix)
	}
	var out FileList
	return &out, s.c.Do(ctx, http.MethodGet, p, nil, &out)
}

// UploadURL asks for a presigned upload URL.
func (s *Storage) UploadURL(ctx context.Context, r UploadRequest) (*UploadURL, error) {
	var out UploadURL
	return &out, s.c.Do(ctx, http.MethodPost, "/"+esc(s.slug)+"/storage/upload", r, &out)
}

// Confirm records an uploaded file's size for the quota.
func (s *Storage) Confirm(ctx context.Context, filename string) (*StoredFile, error) {
	var out StoredFile
	return &out, s.c.Do(ctx, http.MethodPost, "/"+esc(s.slug)+"/storage/confirm?filename="+url.QueryEscape(filename), nil, &out)
}

// DownloadURL returns a presigned download URL (GET /{slug}/storage/download/{path}).
func (s *Storage) DownloadURL(ctx context.Context, filename string) (*DownloadURL, error) {
	var out DownloadURL
	return &out, s.c.Do(ctx, http.MethodGet, "/"+esc(s.slug)+"/storage/download/"+escPath(filename), nil, &out)
}

// FileURL is DownloadURL through GET /{slug}/storage/files/{path}.
func (s *Storage) FileURL(ctx context.Context, filename string) (*DownloadURL, error) {
	var out DownloadURL
	return &out, s.c.Do(ctx, http.MethodGet, "/"+esc(s.slug)+"/storage/files/"+escPath(filename), nil, &out)
}

// Delete deletes a file.
func (s *Storage) Delete(ctx context.Context, filename string) error {
	return s.c.Do(ctx, http.MethodDelete, "/"+esc(s.slug)+"/storage/files/"+escPath(filename), nil, nil)
}

// Upload stores data as filename in one go: an upload URL for its size,
// the PUT, and the confirmation.
func (s *Storage) Upload(ctx context.Context, filename, contentType string, data []byte) (*StoredFile, error) {
	u, err := s.UploadURL(ctx, UploadRequest{Filename: filename, ContentType: contentType, Size: int64(len(data))})
	if err != nil {
		return nil, err
	}
	if err := s.c.PutURL(ctx, u, bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, err
	}
	return s.Confirm(ctx, filename)
}

// PutURL sends body to a presigned upload URL with its headers. The URL
// needs no API key; none is sent.
func (c *Client) PutURL(ctx context.Context, u *UploadURL, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.UploadURL, body)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "invalid_request", "cannot build the upload request")
	}
	req.ContentLength = size
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "transport", "cannot reach the upload URL: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			return decodeError(resp, data)
		}
		return &errs.Error{Kind: errs.KindForStatus(resp.StatusCode), Code: "upload_refused",
			Detail: "the upload URL answered " + resp.Status + ": " + strings.TrimSpace(string(data[:min(len(data), 300)]))}
	}
	return nil
}

// SiteFile is a file of a project's static site.
type SiteFile struct {
	Path         string    `json:"path"`
	Size         int64     `json:"size"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
	URL          string    `json:"url"`
}

// SiteFileList is the answer of GET /{slug}/files.
type SiteFileList struct {
	Files     []SiteFile   `json:"files"`
	Truncated bool         `json:"truncated"`
	SiteURL   string       `json:"site_url"`
	Usage     StorageUsage `json:"usage"`
}

// SiteUpload is the answer of POST /{slug}/files.
type SiteUpload struct {
	Uploaded bool `json:"uploaded"`
	SiteFile
	Filename string `json:"filename"`
	UploadURL
}

// PutSiteFile uploads one static site file inline (base64; under 5 MB).
func (c *Client) PutSiteFile(ctx context.Context, slug, filename string, content []byte) (*SiteUpload, error) {
	var out SiteUpload
	return &out, c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/files",
		map[string]any{"filename": filename, "content": base64.StdEncoding.EncodeToString(content)}, &out)
}

// SiteUploadURL asks for a presigned upload URL for a large site file;
// size, when > 0, is bound to it.
func (c *Client) SiteUploadURL(ctx context.Context, slug, filename string, size int64) (*UploadURL, error) {
	body := map[string]any{"filename": filename, "use_presigned": true}
	if size > 0 {
		body["size"] = size
	}
	var out SiteUpload
	if err := c.Do(ctx, http.MethodPost, "/"+esc(slug)+"/files", body, &out); err != nil {
		return nil, err
	}
	out.UploadURL.Filename = filename
	return &out.UploadURL, nil
}

// SiteFiles lists the site files whose paths start with prefix.
func (c *Client) SiteFiles(ctx context.Context, slug, prefix string) (*SiteFileList, error) {
	p := "/" + esc(slug) + "/files"
	if prefix != "" {
		p += "?path=" + url.QueryEscape(prefix)
	}
	var out SiteFileList
	return &out, c.Do(ctx, http.MethodGet, p, nil, &out)
}

// DeleteSiteFile deletes a site file.
func (c *Client) DeleteSiteFile(ctx context.Context, slug, filename string) error {
	return c.Do(ctx, http.MethodDelete, "/"+esc(slug)+"/files/"+escPath(filename), nil, nil)
}
