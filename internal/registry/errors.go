package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/flotilla-ipfs/flotilla/internal/pin"
)

// The error codes of the OCI Distribution Specification v1.1 ("Error
// Codes"), answered in its shape: {"errors":[{"code","message","detail"}]}.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	// Not in the spec's table, which lets registries add codes: the
	// cluster cannot answer now, or the content cannot be read.
	codeUnavailable = "UNAVAILABLE"
	codeUnknown     = "UNKNOWN"
)

// apiError is an answer of the API: a status and one of the codes above.
type apiError struct {
	status  int
	code    string
	message string
	detail  any // optional: what the code is about (a digest, a tag)
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func (e *apiError) with(detail any) *apiError { e.detail = detail; return e }

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

type wireErrors struct {
	Errors []wireError `json:"errors"`
}

// writeError answers err: an *apiError as it is, the cluster's sentinels as
// their statuses, anything else as a 500. This is the one place where
// errors become statuses.
func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	switch {
	case errors.As(err, &e):
	case errors.Is(err, pin.ErrUnavailable):
		e = errorf(http.StatusServiceUnavailable, codeUnavailable, "%v", err)
	case errors.Is(err, pin.ErrInvalid):
		e = errorf(http.StatusBadRequest, codeManifestInvalid, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		e = errorf(http.StatusServiceUnavailable, codeUnavailable, "%v", err)
	default:
		e = errorf(http.StatusInternalServerError, codeUnknown, "%v", err)
	}
	writeErrorBody(w, e)
}

func writeErrorBody(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(wireErrors{Errors: []wireError{{Code: e.code, Message: e.message, Detail: e.detail}}})
}

// Challenge is the registry's WWW-Authenticate: Basic only. The other
// admin ports offer Bearer too, but docker prefers a Bearer challenge when
// one is offered and then expects a token service at its realm; with
// Basic it sends the credentials of `docker login` on every request, and a
// flotilla token works as that password (see auth.Guard).
const Challenge = `Basic realm="flotilla registry"`

// WriteError answers an authentication failure of the guard in the spec's
// shape: UNAUTHORIZED with the registry's own challenge, DENIED,
// TOOMANYREQUESTS.
func WriteError(w http.ResponseWriter, status int, msg string) {
	code := codeDenied
	switch status {
	case http.StatusUnauthorized:
		code = codeUnauthorized
		w.Header()["Www-Authenticate"] = []string{Challenge}
	case http.StatusTooManyRequests:
		code = codeTooManyRequests
	}
	writeErrorBody(w, errorf(status, code, "%s", msg))
}
