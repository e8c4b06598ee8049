package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/mosaic-platform/mosaic/errs"
)

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Detail    string `json:"detail"`
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError writes err as JSON with its kind's status. Internal errors are
// logged with their cause and shown as a generic sentence.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errs.As(err)
	body := ErrorBody{Detail: e.Detail, Error: e.ErrorCode()}
	if e.Kind == errs.Internal {
		body.Detail = "internal error; the request id identifies it in the server's logs"
		body.RequestID = requestID(r.Context())
		h.log.ErrorContext(r.Context(), "internal error", "request_id", body.RequestID, "method", r.Method, "path", r.URL.Path, "err", err)
	} else if body.Detail == "" {
		body.Detail = http.StatusText(e.Kind.Status())
	}
	if e.Kind == errs.Unauthorized {
		w.Header().Set("WWW-Authenticate", `APIKey header="X-API-Key"`)
	}
	if e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if e.Kind == errs.Unavailable && e.Err != nil {
		h.log.WarnContext(r.Context(), "service unavailable", "request_id", requestID(r.Context()), "path", r.URL.Path, "err", e.Err)
	}
	if len(e.Fields) > 0 && e.Kind != errs.Internal {
		m := make(map[string]any, len(e.Fields)+2)
		for k, v := range e.Fields {
			m[k] = v
		}
		m["detail"], m["error"] = body.Detail, body.Error
		delete(m, "request_id")
		writeJSON(w, e.Kind.Status(), m)
		return
	}
	writeJSON(w, e.Kind.Status(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // keep only small buffers
			buf.Reset()
			jsonBuffers.Put(buf)
		}
	}()
	buf.Reset()
	fast := false
	if fe, ok := v.(fastEncoder); ok {
		var b []byte
		if b, fast = fe.appendJSON(buf.AvailableBuffer()); fast {
			buf.Write(b)
		}
	}
	if !fast {
		enc := json.NewEncoder(buf)
		// URLs keep their & as is (not \u0026): the answers are JSON served
		// with nosniff, never HTML, and a URL copied out of them must work.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil { // Encode ends with '\n'
			status = http.StatusInternalServerError
			buf.Reset()
			buf.WriteString(`{"detail":"internal error: the response could not be encoded","error":"internal"}` + "\n")
		}
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Shared header values (len == cap, so an Add elsewhere copies them).
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	noSniff         = []string{"nosniff"}
	jsonBuffers     = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// decodeJSON reads a JSON object from the request body into v. The body is
// already bounded by the size-limit middleware. Wrong types, bad syntax,
// trailing data and an empty body are Invalid errors; an oversized body is
// TooLarge.
func decodeJSON(r *http.Request, v any) error {
	// The whole body (bounded), then one Unmarshal: cheaper than a
	// json.Decoder for the small bodies of this API, and Unmarshal refuses
	// anything after the value.
	buf := jsonBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 { // keep only small buffers
			jsonBuffers.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return jsonError(err)
	}
	b := buf.Bytes()
	if len(bytes.Trim(b, " \t\r\n")) == 0 {
		return jsonError(io.EOF)
	}
	if fd, ok := v.(fastDecoder); ok && fd.decodeFast(b) {
		return nil
	}
	// Unmarshal copies what it keeps (strings, json.RawMessage), so the
	// buffer can go back to the pool.
	if err := json.Unmarshal(b, v); err != nil {
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return errs.New(errs.TooLarge, "body_too_large", "the request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return errs.New(errs.Invalid, "invalid_json", "the request body must be a JSON object")
	case errors.As(err, &syn) && strings.Contains(syn.Error(), "after top-level value"):
		return errs.New(errs.Invalid, "invalid_json", "the request body must hold one JSON object, with nothing after it")
	case errors.As(err, &syn) && strings.Contains(syn.Error(), "unexpected end of JSON input"):
		return errs.New(errs.Invalid, "invalid_json", "the request body is truncated JSON")
	case errors.As(err, &syn):
		return errs.New(errs.Invalid, "invalid_json", "the request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errs.New(errs.Invalid, "invalid_json", "the request body must be a JSON object, not %s", typ.Value)
		}
		return errs.New(errs.Invalid, "invalid_type", "field %q must be %s, not %s", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Invalid, "invalid_json", "the request body is truncated JSON")
	}
	if strings.HasPrefix(err.Error(), "json: ") {
		return errs.New(errs.Invalid, "invalid_json", "the request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return errs.Wrap(errs.Invalid, err, "invalid_body", "the request body could not be read")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}
