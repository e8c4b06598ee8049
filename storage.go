package mosaic

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/kv"
	"github.com/mosaic-platform/mosaic/storage"
)

// DefaultStorageBucket is the bucket of every project's objects when
// Config.StorageBucket is empty.
const DefaultStorageBucket = "mosaic"

// Storage limits.
const (
	// DefaultUploadExpires is an upload URL's lifetime when none is asked for.
	DefaultUploadExpires = time.Hour
	// DownloadExpires is a download URL's lifetime.
	DownloadExpires = time.Hour
	// MaxUploadBytes is the largest single upload (S3's single-PUT limit).
	MaxUploadBytes = 5 << 30
	// MaxListedFiles caps the files one listing returns (usage still counts all).
	MaxListedFiles = 1000
)

// Usage bookkeeping intervals: the sum of a project's recorded sizes is
// reused for usageTTL; the records are compared with the store's own
// listing at most every reconcileEvery (and on every full listing).
const (
	usageTTL       = 5 * time.Second
	reconcileEvery = 10 * time.Minute
	// reconcileTimeout bounds one listing and its reconciliation;
	// tombstoneTTL (how long a delete's tombstone is kept) must exceed it.
	reconcileTimeout = 2 * time.Minute
	tombstoneTTL     = time.Hour
)

// File is a stored object of a project, as the API shows it.
type File struct {
	Filename     string    `json:"filename"`
	Size         int64     `json:"size"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
	// URL is a presigned download URL, valid for an hour (listings only).
	URL string `json:"url,omitempty"`
}

// StorageUsage is a project's storage against its plan: files and site
// together count against the plan's StorageBytes.
type StorageUsage struct {
	UsedBytes  int64   `json:"used_bytes"`
	LimitBytes int64   `json:"limit_bytes"`
	Used       string  `json:"used"`
	Limit      string  `json:"limit"`
	Percent    float64 `json:"percent"`
	FilesBytes int64   `json:"files_bytes"`
	SiteBytes  int64   `json:"site_bytes"`
}

// FileList is the answer of Platform.Files and GET /{slug}/storage/files.
type FileList struct {
	Files []File `json:"files"`
	// Truncated is true when more than MaxListedFiles matched.
	Truncated bool         `json:"truncated"`
	Usage     StorageUsage `json:"usage"`
}

// UploadRequest asks for a presigned upload URL.
type UploadRequest struct {
	// Filename is the object's key: see storage.CheckKey.
	Filename string `json:"filename"`
	// ContentType is what the PUT must send as Content-Type (default: from
	// the file name's extension, else application/octet-stream).
	ContentType string `json:"content_type,omitempty"`
	// Expires is the URL's lifetime (0: DefaultUploadExpires; at most 7 days).
	Expires time.Duration `json:"-"`
	// Size, when > 0, is the exact size of the upload; it is checked
	// against the quota now and bound to the URL.
	Size int64 `json:"size,omitempty"`
}

// UploadURL is a presigned upload: PUT the bytes to URL with Headers.
type UploadURL struct {
	UploadURL string            `json:"upload_url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	Filename  string            `json:"filename"`
	ExpiresIn int64             `json:"expires_in"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// DownloadURL is a presigned download URL of one file.
type DownloadURL struct {
	Filename    string `json:"filename"`
	DownloadURL string `json:"download_url"`
	Method      string `json:"method"`
	ExpiresIn   int64  `json:"expires_in"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

// storage areas, and their key prefixes under the project's own prefix.
const (
	areaFiles = "files"
	areaSite  = "site"
)

// The tenant layout: a project's objects live under projects/{id}/, each
// area's under projects/{id}/{area}/.

func projectPrefix(id uuid.UUID) string { return string(appendProjectPrefix(nil, id)) }

func areaPrefix(id uuid.UUID, area string) string { return string(appendAreaPrefix(nil, id, area)) }

func appendProjectPrefix(b []byte, id uuid.UUID) []byte {
	b = append(b, "projects/"...)
	return append(appendUUID(b, id), '/')
}

func appendAreaPrefix(b []byte, id uuid.UUID, area string) []byte {
	return append(append(appendProjectPrefix(b, id), area...), '/')
}

// newStorage sets up the object store: Config.Storage, else a Local store
// in Config.StorageDir, else none (storage routes answer 503).
func (p *Platform) newStorage() error {
	p.bucket = p.cfg.StorageBucket
	if p.bucket == "" {
		p.bucket = DefaultStorageBucket
	}
	if err := storage.CheckBucket(p.bucket); err != nil {
		return err
	}
	p.store = p.cfg.Storage
	if p.store != nil || p.cfg.StorageDir == "" {
		return nil
	}
	m := hmac.New(sha256.New, p.cfg.SecretKey)
	m.Write([]byte("mosaic storage URL signing v1"))
	l, err := storage.NewLocal(storage.LocalConfig{
		Dir:     p.cfg.StorageDir,
		BaseURL: p.publicURL.String() + StoragePath,
		Secret:  m.Sum(nil),
		Now:     p.cfg.Now,
	})
	if err != nil {
		return err
	}
	p.store, p.local = l, l
	return nil
}

// StoragePath is where StorageHandler is mounted (httpapi's Mount does it):
// the local store's presigned URLs are PublicURL + StoragePath + "/...".
const StoragePath = "/s3"

// StorageHandler serves the presigned URLs of the local store; mount it at
// StoragePath with http.StripPrefix. With an S3 store (whose URLs point at
// the S3 server) or none, it answers 404.
func (p *Platform) StorageHandler() http.Handler {
	if h, ok := p.store.(http.Handler); ok {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"detail":"this platform's object storage does not serve URLs here","error":"not_found"}` + "\n"))
	})
}

// Storage returns the object store (nil when none is configured) and the bucket.
func (p *Platform) Storage() (storage.Store, string) { return p.store, p.bucket }

// storageTenant resolves one of owner's projects for a storage call: the
// project (shared: read only), its plan, and a store that is ready for
// writes.
func (p *Platform) storageTenant(ctx context.Context, owner uuid.UUID, slug string) (*Project, Plan, error) {
	t, err := p.tenant(ctx, owner, slug)
	if err != nil {
		return nil, Plan{}, err
	}
	if p.store == nil {
		return nil, Plan{}, errs.New(errs.Unavailable, "storage_not_configured", "object storage is not configured on this platform")
	}
	plan, _ := p.Plan(t.pr.Plan)
	// The cache entry's own copy: entries are never changed once made
	// (a change makes a new one), and storage calls only read it.
	return &t.pr, plan, nil
}

// ensureBucket creates the bucket once, for stores that need it.
func (p *Platform) ensureBucket(ctx context.Context) error {
	bm, ok := p.store.(storage.BucketMaker)
	if !ok {
		return nil
	}
	p.bucketMu.Lock()
	defer p.bucketMu.Unlock()
	if p.bucketReady {
		return nil
	}
	if err := bm.MakeBucket(ctx, p.bucket); err != nil {
		return err
	}
	p.bucketReady = true
	return nil
}

// checkName validates a user's file name and returns the object key.
func checkName(id uuid.UUID, area, name string) (string, error) {
	if err := storage.CheckKey(name); err != nil {
		return "", err
	}
	// areaPrefix(id, area) + name, in one allocation.
	var kb [256]byte
	key := string(append(appendAreaPrefix(kb[:0], id, area), name...))
	if len(key) > storage.MaxKeyBytes {
		return "", errs.New(errs.Invalid, "invalid_key", "a file name has at most %d bytes here (this one has %d)", storage.MaxKeyBytes-len(areaPrefix(id, area)), len(name))
	}
	return key, nil
}

// appendUUID appends id as uuid.UUID.String writes it.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const hexd = "0123456789abcdef"
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return b
}

func fileNotFound(name string) error {
	return errs.New(errs.NotFound, "file_not_found", "file %q not found", name)
}

// userErr turns a store's NotFound (which names the internal key) into one
// that names the user's file.
func userErr(err error, name string) error {
	if errors.Is(err, errs.ErrNotFound) {
		return fileNotFound(name)
	}
	return err
}

// ---- usage ----

type usageCache struct {
	mu sync.Mutex
	m  map[uuid.UUID]*usageEntry
}

type usageEntry struct {
	mu          sync.Mutex
	files, site int64
	fetched     time.Time
	reconciled  time.Time
	reconciling bool
}

func (p *Platform) usageEntry(id uuid.UUID) *usageEntry {
	c := &p.usage
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uuid.UUID]*usageEntry{}
	}
	e := c.m[id]
	if e == nil {
		e = &usageEntry{}
		c.m[id] = e
	}
	return e
}

// storageUsed returns the bytes a project's files and site use, from the
// recorded sizes (cached briefly). When the records have not been compared
// with the store for reconcileEvery, a background reconciliation starts.
func (p *Platform) storageUsed(ctx context.Context, id uuid.UUID) (files, site int64, err error) {
	e := p.usageEntry(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if now.Sub(e.reconciled) >= reconcileEvery && !e.reconciling {
		e.reconciling = true
		go p.reconcileAll(id, e)
	}
	if now.Sub(e.fetched) < usageTTL {
		return e.files, e.site, nil
	}
	rows, err := p.db.Query(ctx, `SELECT area, coalesce(sum(size), 0)::bigint FROM mosaic.storage_objects WHERE project_id = $1 AND NOT deleted GROUP BY area`, id)
	if err != nil {
		return 0, 0, dbError(err, "storage usage")
	}
	defer rows.Close()
	files, site = 0, 0
	for rows.Next() {
		var area string
		var n int64
		if err := rows.Scan(&area, &n); err != nil {
			return 0, 0, dbError(err, "storage usage")
		}
		if area == areaSite {
			site = n
		} else {
			files = n
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, dbError(err, "storage usage")
	}
	e.files, e.site, e.fetched = files, site, now
	return files, site, nil
}

// invalidateUsage makes the next storageUsed read the records again.
func (p *Platform) invalidateUsage(id uuid.UUID) {
	e := p.usageEntry(id)
	e.mu.Lock()
	e.fetched = time.Time{}
	e.mu.Unlock()
}

func (p *Platform) usageOf(plan Plan, files, site int64) StorageUsage {
	u := StorageUsage{UsedBytes: files + site, LimitBytes: plan.StorageBytes, FilesBytes: files, SiteBytes: site,
		Used: kv.HumanBytes(files + site), Limit: kv.HumanBytes(plan.StorageBytes)}
	if plan.StorageBytes > 0 {
		u.Percent = float64(int64(float64(u.UsedBytes)*10000/float64(plan.StorageBytes))) / 100
	}
	return u
}

// recordObject notes an observed object size.
func (p *Platform) recordObject(ctx context.Context, id uuid.UUID, area, name string, size int64) error {
	_, err := p.db.Exec(ctx, `INSERT INTO mosaic.storage_objects (project_id, area, key, size) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, area, key) DO UPDATE SET size = excluded.size, deleted = false, updated_at = now()`, id, area, name, size)
	p.invalidateUsage(id)
	return dbError(err, "record object size")
}

// forgetObject notes a delete. It leaves a tombstone (see reconcile), even
// for a key never recorded: a listing in flight may have seen the object.
func (p *Platform) forgetObject(ctx context.Context, id uuid.UUID, area, name string) error {
	_, err := p.db.Exec(ctx, `INSERT INTO mosaic.storage_objects (project_id, area, key, size, deleted) VALUES ($1, $2, $3, 0, true)
		ON CONFLICT (project_id, area, key) DO UPDATE SET size = 0, deleted = true, updated_at = now()`, id, area, name)
	p.invalidateUsage(id)
	return dbError(err, "forget object size")
}

// reconcile makes the records of one area under prefix equal to a listing
// of the store (names relative to the area) that began at since (the
// database's clock). Only records older than since change: one written
// or deleted after it is newer than the listing and stays as it is. That
// is why deletes leave tombstones (deleted rows): a listing that began
// before a delete, and still saw the object, must not bring its record
// back. Tombstones older than tombstoneTTL (longer than any listing may
// run) are purged here.
func (p *Platform) reconcile(ctx context.Context, id uuid.UUID, area, prefix string, since time.Time, names []string, sizes []int64) error {
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return dbError(err, "reconcile storage")
	}
	defer tx.Rollback(ctx)
	// One reconciliation of a project at a time: two at once lock the
	// same rows in different orders, and PostgreSQL ends one of them as a
	// deadlock (TestStorageChaos). The other writers change one row per
	// statement, so they cannot close a cycle with it.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mosaic.storage_objects:' || $1::text, 0))`, id); err != nil {
		return dbError(err, "reconcile storage")
	}
	if _, err := tx.Exec(ctx, `UPDATE mosaic.storage_objects SET size = 0, deleted = true, updated_at = now()
		WHERE project_id = $1 AND area = $2 AND starts_with(key, $3) AND NOT deleted
		AND NOT (key = ANY($4::text[])) AND updated_at < $5`, id, area, prefix, names, since); err != nil {
		return dbError(err, "reconcile storage")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO mosaic.storage_objects (project_id, area, key, size)
		SELECT $1, $2, k, s FROM unnest($3::text[], $4::bigint[]) AS t(k, s)
		ON CONFLICT (project_id, area, key) DO UPDATE SET size = excluded.size, deleted = false, updated_at = now()
		WHERE mosaic.storage_objects.updated_at < $5
		AND (mosaic.storage_objects.deleted OR mosaic.storage_objects.size IS DISTINCT FROM excluded.size)`,
		id, area, names, sizes, since); err != nil {
		return dbError(err, "reconcile storage")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM mosaic.storage_objects WHERE project_id = $1 AND deleted
		AND updated_at < now() - make_interval(secs => $2)`, id, tombstoneTTL.Seconds()); err != nil {
		return dbError(err, "reconcile storage")
	}
	if err := tx.Commit(ctx); err != nil {
		return dbError(err, "reconcile storage")
	}
	p.invalidateUsage(id)
	return nil
}

// listArea lists one area of a project under prefix (relative to the
// area), reconciles the records with what it found, and returns it.
func (p *Platform) listArea(ctx context.Context, id uuid.UUID, area, prefix string) ([]storage.ObjectInfo, error) {
	base := areaPrefix(id, area)
	ctx, cancel := context.WithTimeout(ctx, reconcileTimeout) // see tombstoneTTL
	defer cancel()
	var (
		infos []storage.ObjectInfo
		names []string
		sizes []int64
		since time.Time
	)
	if err := p.db.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&since); err != nil {
		return nil, dbError(err, "reconcile storage")
	}
	for info, err := range p.store.List(ctx, p.bucket, base+prefix) {
		if err != nil {
			return nil, err
		}
		info.Key = strings.TrimPrefix(info.Key, base)
		infos = append(infos, info)
		names = append(names, info.Key)
		sizes = append(sizes, info.Size)
	}
	if names == nil {
		names, sizes = []string{}, []int64{}
	}
	if err := p.reconcile(ctx, id, area, prefix, since, names, sizes); err != nil {
		return nil, err
	}
	return infos, nil
}

// reconcileAll compares both areas of a project with the store, in the background.
func (p *Platform) reconcileAll(id uuid.UUID, e *usageEntry) {
	ctx := context.Background() // listArea bounds each listing (reconcileTimeout)
	ok := true
	for _, area := range []string{areaFiles, areaSite} {
		if _, err := p.listArea(ctx, id, area, ""); err != nil {
			p.log.Debug("could not reconcile a project's storage usage", "project", id, "err", err)
			ok = false
			break
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reconciling = false
	if ok {
		e.reconciled = time.Now()
		e.fetched = time.Time{}
	}
}

// checkQuota refuses an addition of add bytes (0: unknown) that would take
// the project past its plan's storage, and returns the bytes left.
func (p *Platform) checkQuota(ctx context.Context, pr *Project, plan Plan, add int64) (left int64, err error) {
	if plan.StorageBytes <= 0 {
		return 0, errs.New(errs.Quota, "plan_limit", "the %s plan does not include object storage; upgrade the plan", pr.Plan)
	}
	files, site, err := p.storageUsed(ctx, pr.ID)
	if err != nil {
		return 0, err
	}
	used := files + site
	if used+add > plan.StorageBytes || used >= plan.StorageBytes {
		need := ""
		if add > 0 {
			need = fmt.Sprintf("; this upload needs %s more", kv.HumanBytes(add))
		}
		return 0, &errs.Error{Kind: errs.Quota, Code: "storage_quota_exceeded",
			Detail: fmt.Sprintf("storage uses %s of the %s plan's %s%s; delete files or upgrade the plan", kv.HumanBytes(used), plan.Name, kv.HumanBytes(plan.StorageBytes), need),
			Fields: map[string]any{"used_bytes": used, "limit_bytes": plan.StorageBytes}}
	}
	return plan.StorageBytes - used, nil
}

// StorageUsage returns a project's storage against its plan.
func (p *Platform) StorageUsage(ctx context.Context, owner uuid.UUID, slug string) (*StorageUsage, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	files, site, err := p.storageUsed(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	u := p.usageOf(plan, files, site)
	return &u, nil
}

// ---- object storage ----

// Files lists one of owner's project's files whose names start with prefix
// (at most MaxListedFiles, each with a download URL) and its usage. The
// listing is the store's own, and it corrects the recorded sizes.
func (p *Platform) Files(ctx context.Context, owner uuid.UUID, slug, prefix string) (*FileList, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	if err := storage.CheckPrefix(prefix); err != nil {
		return nil, err
	}
	infos, err := p.listArea(ctx, pr.ID, areaFiles, prefix)
	if err != nil {
		return nil, err
	}
	out := &FileList{Files: make([]File, 0, min(len(infos), MaxListedFiles))}
	for i, info := range infos {
		if i == MaxListedFiles {
			out.Truncated = true
			break
		}
		f := File{Filename: info.Key, Size: info.Size, ContentType: info.ContentType, LastModified: info.LastModified}
		if u, err := p.store.PresignGet(ctx, p.bucket, areaPrefix(pr.ID, areaFiles)+info.Key, DownloadExpires); err == nil {
			f.URL = u.String()
		}
		out.Files = append(out.Files, f)
	}
	files, site, err := p.storageUsed(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	out.Usage = p.usageOf(plan, files, site)
	return out, nil
}

func contentTypeFor(name, given string) (string, error) {
	if given == "" {
		if given = mime.TypeByExtension(path.Ext(name)); given == "" {
			given = storage.DefaultContentType
		}
	}
	if err := storage.CheckContentType(given); err != nil {
		return "", err
	}
	return given, nil
}

// UploadURL returns a presigned URL to PUT one file to. With a declared
// size the upload is checked against the plan's storage now (Quota, 402,
// when it would not fit) and the URL accepts only that size; without one,
// the upload is allowed while the project is under its limit and counted
// once confirmed (or found by a listing).
func (p *Platform) UploadURL(ctx context.Context, owner uuid.UUID, slug string, in UploadRequest) (*UploadURL, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	return p.uploadURL(ctx, pr, plan, areaFiles, in)
}

func (p *Platform) uploadURL(ctx context.Context, pr *Project, plan Plan, area string, in UploadRequest) (*UploadURL, error) {
	key, err := checkName(pr.ID, area, in.Filename)
	if err != nil {
		return nil, err
	}
	ct, err := contentTypeFor(in.Filename, in.ContentType)
	if err != nil {
		return nil, err
	}
	if in.Expires == 0 {
		in.Expires = DefaultUploadExpires
	}
	if in.Expires < time.Second || in.Expires > storage.MaxExpires {
		return nil, errs.New(errs.Invalid, "invalid_expires", "expires is from 1 to %d seconds (7 days)", int64(storage.MaxExpires/time.Second))
	}
	switch {
	case in.Size < 0:
		return nil, errs.New(errs.Invalid, "invalid_size", "size cannot be negative")
	case in.Size > MaxUploadBytes:
		return nil, errs.New(errs.TooLarge, "file_too_large", "one upload is at most %s", kv.HumanBytes(MaxUploadBytes))
	}
	left, err := p.checkQuota(ctx, pr, plan, in.Size)
	if err != nil {
		return nil, err
	}
	if err := p.ensureBucket(ctx); err != nil {
		return nil, err
	}
	u, err := p.store.PresignPut(ctx, p.bucket, key, storage.PutOptions{Expires: in.Expires, ContentType: ct, Size: in.Size, MaxSize: min(left, MaxUploadBytes)})
	if err != nil {
		return nil, err
	}
	return &UploadURL{UploadURL: u.String(), Method: http.MethodPut, Headers: map[string]string{"Content-Type": ct},
		Filename: in.Filename, ExpiresIn: int64(in.Expires / time.Second), ExpiresAt: p.now().Add(in.Expires).UTC().Truncate(time.Second)}, nil
}

// ConfirmUpload records an uploaded file's size, as the store reports it,
// for the quota. If the file takes the project past its plan's storage, it
// is deleted and the answer is Quota (402).
func (p *Platform) ConfirmUpload(ctx context.Context, owner uuid.UUID, slug, filename string) (*File, error) {
	pr, plan, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	key, err := checkName(pr.ID, areaFiles, filename)
	if err != nil {
		return nil, err
	}
	info, err := p.store.Stat(ctx, p.bucket, key)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil, errs.New(errs.NotFound, "file_not_found", "file %q not found: PUT it to its upload_url first", filename)
		}
		return nil, err
	}
	if err := p.recordObject(ctx, pr.ID, areaFiles, filename, info.Size); err != nil {
		return nil, err
	}
	files, site, err := p.storageUsed(ctx, pr.ID)
	if err != nil {
		return nil, err
	}
	if plan.StorageBytes <= 0 || files+site > plan.StorageBytes {
		if err := p.store.Delete(ctx, p.bucket, key); err != nil {
			return nil, err
		}
		if err := p.forgetObject(ctx, pr.ID, areaFiles, filename); err != nil {
			return nil, err
		}
		return nil, &errs.Error{Kind: errs.Quota, Code: "storage_quota_exceeded",
			Detail: fmt.Sprintf("%q (%s) takes storage past the %s plan's %s, so it was deleted; delete other files or upgrade the plan",
				filename, kv.HumanBytes(info.Size), plan.Name, kv.HumanBytes(plan.StorageBytes))}
	}
	return &File{Filename: filename, Size: info.Size, ContentType: info.ContentType, LastModified: info.LastModified}, nil
}

// FileDownloadURL returns a presigned download URL (one hour) of a file.
func (p *Platform) FileDownloadURL(ctx context.Context, owner uuid.UUID, slug, filename string) (*DownloadURL, error) {
	pr, _, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return nil, err
	}
	key, err := checkName(pr.ID, areaFiles, filename)
	if err != nil {
		return nil, err
	}
	info, err := p.store.Stat(ctx, p.bucket, key)
	if err != nil {
		return nil, userErr(err, filename)
	}
	u, err := p.store.PresignGet(ctx, p.bucket, key, DownloadExpires)
	if err != nil {
		return nil, err
	}
	return &DownloadURL{Filename: filename, DownloadURL: u.String(), Method: http.MethodGet, ExpiresIn: int64(DownloadExpires / time.Second),
		Size: info.Size, ContentType: info.ContentType}, nil
}

// DeleteFile deletes a file (NotFound when there is none).
func (p *Platform) DeleteFile(ctx context.Context, owner uuid.UUID, slug, filename string) error {
	pr, _, err := p.storageTenant(ctx, owner, slug)
	if err != nil {
		return err
	}
	return p.deleteObject(ctx, pr.ID, areaFiles, filename)
}

func (p *Platform) deleteObject(ctx context.Context, id uuid.UUID, area, name string) error {
	key, err := checkName(id, area, name)
	if err != nil {
		return err
	}
	if _, err := p.store.Stat(ctx, p.bucket, key); err != nil {
		return userErr(err, name)
	}
	if err := p.store.Delete(ctx, p.bucket, key); err != nil {
		return err
	}
	return p.forgetObject(ctx, id, area, name)
}

// deleteProjectStorage removes every object of a project (files and site);
// project deletion is to call it (finishDelete). It is idempotent.
// sweepGrace is how long after a project's deletion its storage prefix is
// swept once more: an upload URL issued before the delete works for at most
// storage.MaxExpires.
const sweepGrace = storage.MaxExpires + time.Hour

// sweepEvery is how often the platform sweeps the storage of projects
// deleted more than sweepGrace ago.
const sweepEvery = time.Hour

// sweepLoop runs sweepDeletedStorage every sweepEvery until Close.
func (p *Platform) sweepLoop() {
	defer p.bg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if n, err := p.sweepDeletedStorage(ctx, sweepGrace); err != nil {
			p.log.Warn("could not sweep the storage of deleted projects", "err", err)
		} else if n > 0 {
			p.log.Info("swept the storage of deleted projects", "projects", n)
		}
		cancel()
	}
}

// sweepDeletedStorage removes what uploads through presigned URLs put
// under the ids of projects deleted more than grace ago (the delete itself
// removed everything that was there), then forgets those ids. It returns
// how many it swept.
func (p *Platform) sweepDeletedStorage(ctx context.Context, grace time.Duration) (int, error) {
	rows, err := p.db.Query(ctx, `SELECT id FROM mosaic.deleted_projects
		WHERE deleted_at < now() - make_interval(secs => $1) ORDER BY deleted_at LIMIT 1000`, grace.Seconds())
	if err != nil {
		return 0, dbError(err, "list deleted projects")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, dbError(err, "list deleted projects")
	}
	for i, id := range ids {
		if err := p.deleteProjectStorage(ctx, id); err != nil {
			return i, err
		}
		if _, err := p.db.Exec(ctx, `DELETE FROM mosaic.deleted_projects WHERE id = $1`, id); err != nil {
			return i, dbError(err, "forget a deleted project")
		}
	}
	return len(ids), nil
}

func (p *Platform) deleteProjectStorage(ctx context.Context, id uuid.UUID) error {
	if p.store == nil {
		return nil
	}
	var keys []string
	for info, err := range p.store.List(ctx, p.bucket, projectPrefix(id)) {
		if err != nil {
			return err
		}
		keys = append(keys, info.Key)
	}
	for _, k := range keys {
		if err := p.store.Delete(ctx, p.bucket, k); err != nil {
			return err
		}
	}
	p.usage.mu.Lock()
	delete(p.usage.m, id)
	p.usage.mu.Unlock()
	return nil
}
