package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"
)

// WhoamiResponse is the body of GET /whoami.
type WhoamiResponse struct {
	Account AccountJSON `json:"account"`
	Key     KeyJSON     `json:"key"`
}

// AccountJSON is an account as the API shows it.
type AccountJSON struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// KeyJSON is an API key's metadata as the API shows it.
type KeyJSON struct {
	ID         uuid.UUID  `json:"id"`
	Prefix     string     `json:"prefix"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request) error {
	pr := principal(r)
	writeJSON(w, http.StatusOK, WhoamiResponse{
		Account: AccountJSON{ID: pr.Account.ID, Email: pr.Account.Email, Name: pr.Account.Name, CreatedAt: pr.Account.CreatedAt},
		Key:     KeyJSON{ID: pr.Key.ID, Prefix: pr.Key.Prefix, Name: pr.Key.Name, CreatedAt: pr.Key.CreatedAt, ExpiresAt: pr.Key.ExpiresAt, LastUsedAt: pr.Key.LastUsedAt},
	})
	return nil
}

// RotateResponse is the body of POST /keys/rotate.
type RotateResponse struct {
	// Key is the new API key. It is shown only here.
	Key         string  `json:"key"`
	NewKey      KeyJSON `json:"new_key"`
	PreviousKey KeyJSON `json:"previous_key"`
}

func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request) error {
	key, nk, old, err := h.p.RotateAPIKey(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, RotateResponse{
		Key:         key,
		NewKey:      KeyJSON{ID: nk.ID, Prefix: nk.Prefix, Name: nk.Name, CreatedAt: nk.CreatedAt, ExpiresAt: nk.ExpiresAt},
		PreviousKey: KeyJSON{ID: old.ID, Prefix: old.Prefix, Name: old.Name, CreatedAt: old.CreatedAt, ExpiresAt: old.ExpiresAt},
	})
	return nil
}
