package mosaic

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/storage"
)

// MaxSiteFileBytes is the largest site file sent inline (base64) to
// PutSiteFile; larger files go through SiteUploadURL.
const MaxSiteFileBytes = 5 << 20

// SiteFile is a file of a project's static site.
type SiteFile struct {
	Path         string    `json:"path"`
	Size         int64     `json:"size"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified,omitzero"`
	// URL is the file's public address on the project's site.
	URL string `json:"url"`
}

// SiteFileList is the answer of Platform.SiteFiles and GET /{slug}/files.
type SiteFileList struct {
	Files     []SiteFile   `json:"files"`
	Truncated bool         `json:"truncated"`
	SiteURL   string       `json:"site_url"`
	Usage     StorageUsage `json:"usage"`
}

// SitePageURL returns the public URL of a file of a project's site.
func (p *Platform) SitePageURL(slug, filePath string) string {
	segs := strings.Split(filePath, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return p.SiteURL(slug) + "/" + strings.Join(segs, "/")
}

// PutSiteFile stores one file of a project's static site (at most
// MaxSiteFileBytes; the path must pass storage.CheckSitePath, and its
// extension decides the Content-Type it is served with). It counts against
// the plan's storage (Quota, 402, when it would not fit).
func (p *Platform) PutSiteFile(ctx context.Context, owner uuid.UUID, slug, filePath string, content []byte) (*SiteFile, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if err := storage.CheckSitePath(filePath); err != nil {
		return nil, err
	}
	key, err := checkName(pr.ID, areaSite, filePath)
	if err != nil {
		return nil, err
	}
	if len(content) > MaxSiteFileBytes {
		return nil, errs.New(errs.TooLarge, "file_too_large", "a site file sent inline is at most %s; use \"use_presigned\": true for larger ones", kv.HumanBytes(MaxSiteFileBytes))
	}
	if _, err := p.checkQuota(ctx, pr, plan, int64(len(content))); err != nil {
		return nil, err
	}
	if err := p.ensureBucket(ctx); err != nil {
		return nil, err
	}
	ct, _ := storage.SiteContentType(filePath)
	if err := p.store.Put(ctx, p.bucket, key, bytes.NewReader(content), int64(len(content)), ct); err != nil {
		return nil, err
	}
	if err := p.recordObject(ctx, pr.ID, areaSite, filePath, int64(len(content))); err != nil {
		return nil, err
	}
	return &SiteFile{Path: filePath, Size: int64(len(content)), ContentType: ct, LastModified: p.now().UTC(), URL: p.SitePageURL(pr.Slug, filePath)}, nil
}

// SiteUploadURL returns a presigned URL to PUT a large site file to; the
// Content-Type to send is the one of the path's extension. size, when > 0,
// is checked against the quota and bound to the URL.
func (p *Platform) SiteUploadURL(ctx context.Context, owner uuid.UUID, slug, filePath string, size int64, expires time.Duration) (*UploadURL, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if err := storage.CheckSitePath(filePath); err != nil {
		return nil, err
	}
	ct, _ := storage.SiteContentType(filePath)
	return p.uploadURL(ctx, pr, plan, areaSite, UploadRequest{Filename: filePath, ContentType: ct, Size: size, Expires: expires})
}

// SiteFiles lists a project's site files whose paths start with prefix.
func (p *Platform) SiteFiles(ctx context.Context, owner uuid.UUID, slug, prefix string) (*SiteFileList, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if err := storage.CheckPrefix(prefix); err != nil {
		return nil, err
	}
	infos, err := p.listArea(ctx, pr.ID, areaSite, prefix)
	if err != nil {
		return nil, err
	}
	out := &SiteFileList{Files: make([]SiteFile, 0, min(len(infos), MaxListedFiles)), SiteURL: p.SiteURL(pr.Slug)}
	for i, info := range infos {
		if i == MaxListedFiles {
			out.Truncated = true
			break
		}
		ct, _ := storage.SiteContentType(info.Key)
		out.Files = append(out.Files, SiteFile{Path: info.Key, Size: info.Size, ContentType: ct, LastModified: info.LastModified,
			URL: p.SitePageURL(pr.Slug, info.Key)})
	}
	files, site, err := p.storageUsed(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	out.Usage = p.usageOf(plan, files, site)
	return out, nil
}

// DeleteSiteFile deletes a file of a project's site (NotFound when there is none).
func (p *Platform) DeleteSiteFile(ctx context.Context, owner uuid.UUID, slug, filePath string) error {
	pr, _, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return err
	}
	return p.deleteObject(ctx, pr.ID, areaSite, filePath)
}

// OpenSiteFile opens a file of the site of the project slug, for serving
// to anyone (no API key): NotFound for an unknown or inactive project, a
// path that CheckSitePath refuses, or a missing file. The reader is an
// io.ReadSeeker for the stores of package storage; info.ContentType is the
// one of the path's extension. The caller closes the reader.
func (p *Platform) OpenSiteFile(ctx context.Context, slug, filePath string) (io.ReadCloser, storage.ObjectInfo, error) {
	if p.store == nil {
		return nil, storage.ObjectInfo{}, errs.New(errs.Unavailable, "storage_not_configured", "site hosting is not configured on this platform")
	}
	if storage.CheckSitePath(filePath) != nil {
		return nil, storage.ObjectInfo{}, fileNotFound(filePath)
	}
	t, err := p.publicTenant(ctx, slug)
	if err != nil {
		if errors.Is(err, errs.ErrConflict) { // being created or deleted
			return nil, storage.ObjectInfo{}, notFound(slug)
		}
		return nil, storage.ObjectInfo{}, err
	}
	key, err := checkName(t.pr.ID, areaSite, filePath)
	if err != nil {
		return nil, storage.ObjectInfo{}, fileNotFound(filePath)
	}
	rc, info, err := p.store.Get(ctx, p.bucket, key)
	if err != nil {
		return nil, storage.ObjectInfo{}, userErr(err, filePath)
	}
	info.Key = filePath
	info.ContentType, _ = storage.SiteContentType(filePath)
	return rc, info, nil
}
