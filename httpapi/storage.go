package httpapi

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/mosaic-platform/mosaic"
	"github.com/mosaic-platform/mosaic/errs"
	"github.com/mosaic-platform/mosaic/storage"
)

// maxSiteBody bounds POST /{slug}/files: a 5 MiB file in base64 plus the
// other fields.
const maxSiteBody = mosaic.MaxSiteFileBytes*4/3 + 64<<10

// storageRoutes are the object storage routes (section 3 of the API
// reference) and the static site file routes (section 4).
func (h *Handler) storageRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "/{slug}/storage/files", Auth: true, Out: mosaic.FileList{},
			Description: `List files (optional ?prefix=): {"files": [{"filename", "size", "content_type", "last_modified", "url"}], "usage": {"used", "limit", "percent", ...}}`, handle: h.listFiles},
		{Method: "POST", Path: "/{slug}/storage/upload", Auth: true, In: UploadRequest{}, Out: mosaic.UploadURL{},
			Description: `Presigned upload URL: {"filename", "content_type?", "expires?" (seconds, default 3600, max 604800), "size?"} → {"upload_url", "method": "PUT", "headers", "expires_in"}`, handle: h.uploadURL},
		{Method: "POST", Path: "/{slug}/storage/confirm", Auth: true, In: OptionalBody(ConfirmRequest{}), Out: Confirmed{},
			Description: "Confirm an upload (?filename=): records its size for the storage quota", handle: h.confirmUpload},
		{Method: "GET", Path: "/{slug}/storage/download/{path...}", Auth: true, Out: mosaic.DownloadURL{},
			Description: `Presigned download URL of a file, valid 1 hour: {"download_url", "expires_in", "size", "content_type"}`, handle: h.downloadURL},
		{Method: "GET", Path: "/{slug}/storage/files/{path...}", Auth: true, Out: mosaic.DownloadURL{},
			Description: "Presigned download URL of a file (the same as /storage/download/{path})", handle: h.downloadURL},
		{Method: "DELETE", Path: "/{slug}/storage/files/{path...}", Auth: true, Out: Deleted{},
			Description: "Delete a file", handle: h.deleteFile},

		{Method: "POST", Path: "/{slug}/files", Auth: true, MaxBody: maxSiteBody, In: SiteFileRequest{}, Out: SiteUpload{},
			Description: `Upload a static site file: {"filename", "content" (base64, < 5 MB)} → {"uploaded": true, "url"}; or {"filename", "use_presigned": true, "size?"} → {"upload_url", ...}`, handle: h.putSiteFile},
		{Method: "GET", Path: "/{slug}/files", Auth: true, Out: mosaic.SiteFileList{},
			Description: "List static site files (optional ?path= prefix)", handle: h.listSiteFiles},
		{Method: "DELETE", Path: "/{slug}/files/{path...}", Auth: true, Out: Deleted{},
			Description: "Delete a static site file", handle: h.deleteSiteFile},
	}
}

func (h *Handler) listFiles(w http.ResponseWriter, r *http.Request) error {
	l, err := h.p.Files(r.Context(), principal(r).Account.ID, r.PathValue("slug"), r.URL.Query().Get("prefix"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// expiresSeconds turns an optional "expires" field into a duration.
func expiresSeconds(v *int64) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	max := int64(storage.MaxExpires / time.Second)
	if *v < 1 || *v > max {
		return 0, errs.New(errs.Invalid, "invalid_expires", "expires is from 1 to %d seconds (7 days); got %d", max, *v)
	}
	return time.Duration(*v) * time.Second, nil
}

// UploadRequest is the body of POST /{slug}/storage/upload.
type UploadRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"`
	// Expires is the URL's lifetime in seconds (default 3600, max 604800).
	Expires *int64 `json:"expires,omitempty"`
	// Size, when given, is the upload's exact length: checked against the
	// quota now and bound to the URL.
	Size *int64 `json:"size,omitempty"`
}

// ConfirmRequest is the optional body of POST /{slug}/storage/confirm
// (the filename may come as ?filename= instead).
type ConfirmRequest struct {
	Filename string `json:"filename"`
}

// Confirmed is the answer of POST /{slug}/storage/confirm.
type Confirmed struct {
	Confirmed bool `json:"confirmed"`
	*mosaic.File
}

func (h *Handler) uploadURL(w http.ResponseWriter, r *http.Request) error {
	var in UploadRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	exp, err := expiresSeconds(in.Expires)
	if err != nil {
		return err
	}
	req := mosaic.UploadRequest{Filename: in.Filename, ContentType: in.ContentType, Expires: exp}
	if in.Size != nil {
		if *in.Size <= 0 {
			return errs.New(errs.Invalid, "invalid_size", "size is the upload's length in bytes: more than 0")
		}
		req.Size = *in.Size
	}
	u, err := h.p.UploadURL(r.Context(), principal(r).Account.ID, r.PathValue("slug"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, uploadURLJSON{u})
	return nil
}

func (h *Handler) confirmUpload(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("filename")
	if name == "" && r.ContentLength != 0 {
		var in ConfirmRequest
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		name = in.Filename
	}
	if name == "" {
		return errs.New(errs.Invalid, "invalid_key", "say which file: POST /{slug}/storage/confirm?filename=<name>")
	}
	f, err := h.p.ConfirmUpload(r.Context(), principal(r).Account.ID, r.PathValue("slug"), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Confirmed{true, f})
	return nil
}

func (h *Handler) downloadURL(w http.ResponseWriter, r *http.Request) error {
	d, err := h.p.FileDownloadURL(r.Context(), principal(r).Account.ID, r.PathValue("slug"), r.PathValue("path"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// Deleted is the body of the delete routes of files and site files.
type Deleted struct {
	Deleted  bool   `json:"deleted"`
	Filename string `json:"filename"`
}

func (h *Handler) deleteFile(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("path")
	if err := h.p.DeleteFile(r.Context(), principal(r).Account.ID, r.PathValue("slug"), name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Deleted{Deleted: true, Filename: name})
	return nil
}

// SiteUpload is the answer of POST /{slug}/files: an inline upload
// (Uploaded true, with the file) or a presigned one (UploadURL set).
type SiteUpload struct {
	Uploaded bool `json:"uploaded"`
	*mosaic.SiteFile
	Filename string `json:"filename"`
	*mosaic.UploadURL
}

// SiteFileRequest is the body of POST /{slug}/files.
type SiteFileRequest struct {
	Filename string `json:"filename"`
	// Content is the file's bytes in base64 (at most 5 MB decoded).
	Content *string `json:"content,omitempty"`
	// ContentType is informative: the file's extension decides the type it is served with.
	ContentType string `json:"content_type,omitempty"`
	// UsePresigned asks for an upload URL instead (Size and Expires as for /storage/upload).
	UsePresigned bool   `json:"use_presigned,omitempty"`
	Size         *int64 `json:"size,omitempty"`
	Expires      *int64 `json:"expires,omitempty"`
}

func (h *Handler) putSiteFile(w http.ResponseWriter, r *http.Request) error {
	var in SiteFileRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := storage.CheckSitePath(in.Filename); err != nil {
		return err
	}
	owner, slug := principal(r).Account.ID, r.PathValue("slug")
	if in.UsePresigned {
		if in.Content != nil {
			return errs.New(errs.Invalid, "invalid_request", `send either "content" or "use_presigned": true, not both`)
		}
		exp, err := expiresSeconds(in.Expires)
		if err != nil {
			return err
		}
		var size int64
		if in.Size != nil {
			if *in.Size <= 0 {
				return errs.New(errs.Invalid, "invalid_size", "size is the upload's length in bytes: more than 0")
			}
			size = *in.Size
		}
		u, err := h.p.SiteUploadURL(r.Context(), owner, slug, in.Filename, size, exp)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, SiteUpload{Filename: in.Filename, UploadURL: u})
		return nil
	}
	if in.Content == nil {
		return errs.New(errs.Invalid, "invalid_content", `"content" is required: the file's bytes in base64 (or send "use_presigned": true)`)
	}
	content, err := base64.StdEncoding.DecodeString(*in.Content)
	if err != nil {
		if content, err = base64.RawStdEncoding.DecodeString(*in.Content); err != nil {
			return errs.New(errs.Invalid, "invalid_content", `"content" is not valid base64 (standard alphabet)`)
		}
	}
	f, err := h.p.PutSiteFile(r.Context(), owner, slug, in.Filename, content)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SiteUpload{Uploaded: true, Filename: in.Filename, SiteFile: f})
	return nil
}

func (h *Handler) listSiteFiles(w http.ResponseWriter, r *http.Request) error {
	l, err := h.p.SiteFiles(r.Context(), principal(r).Account.ID, r.PathValue("slug"), r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (h *Handler) deleteSiteFile(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("path")
	if err := h.p.DeleteSiteFile(r.Context(), principal(r).Account.ID, r.PathValue("slug"), name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Deleted{Deleted: true, Filename: name})
	return nil
}
