package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sailplan/sailplan/notify"
)

// Provider says how push webhooks are signed and shaped.
type Provider string

// The providers a Handler understands.
const (
	// GitHub signs the body with HMAC-SHA256 in X-Hub-Signature-256
	// ("sha256=<hex>") and names each delivery in X-GitHub-Delivery.
	GitHub Provider = "github"
	// GitLab sends the secret itself in X-Gitlab-Token and names each
	// delivery in X-Gitlab-Event-UUID.
	GitLab Provider = "gitlab"
	// Gitea (and Forgejo) signs the body with HMAC-SHA256 in
	// X-Gitea-Signature (bare hex) and names each delivery in
	// X-Gitea-Delivery.
	Gitea Provider = "gitea"
	// Generic is for anything else that can compute an HMAC (a CI job, a
	// script): X-Sailplan-Timestamp is the Unix time in seconds and
	// X-Sailplan-Signature is "sha256=<hex HMAC-SHA256 of timestamp + "." + body>".
	// A timestamp more than GenericMaxAge away from now is refused, and
	// so is a signature already seen within that time.
	Generic Provider = "generic"
)

// Webhook limits and windows.
const (
	// DefaultMaxBody bounds what is read of a delivery. Push
	// payloads rarely come near it; a larger body is refused (413) rather
	// than read, so unauthenticated requests cannot make us buffer much.
	DefaultMaxBody = 5 << 20
	// DefaultReplayWindow is how long delivery IDs are remembered.
	DefaultReplayWindow = 24 * time.Hour
	// GenericMaxAge is how old (or how far ahead) a generic delivery's
	// signed timestamp may be.
	GenericMaxAge = 5 * time.Minute
)

// Config configures New.
type Config struct {
	Provider Provider
	// Secret is the shared secret set in the provider's webhook settings.
	Secret []byte
	// Ref is the full reference whose pushes trigger a sync, e.g.
	// "refs/heads/main" or "refs/tags/prod"; pushes to other references
	// are acknowledged and ignored. Empty: every push triggers.
	Ref string
	// Trigger asks for a sync; it must not block (Reconciler.Trigger
	// does not). A burst of deliveries calls it once each; the reconciler
	// coalesces them, and the sync reads the head then, so the newest
	// commit wins.
	Trigger func()
	// Log gets one line per delivery; never a secret or a signature.
	Log *slog.Logger
	// MaxBody is DefaultMaxBody when 0.
	MaxBody int64
	// ReplayWindow is DefaultReplayWindow when 0.
	ReplayWindow time.Duration
	// Events receives a notify.WebhookReceived for every delivery, with
	// what became of it; nil publishes none.
	Events Publisher
}

// Publisher receives what the handler does; notify.Bus is the real one.
type Publisher interface {
	Publish(e notify.Event)
}

// Handler is an http.Handler that receives push webhooks and triggers a
// sync. A delivery whose signature (or token) is missing or wrong gets 401
// and triggers nothing; so does a replay: a delivery ID seen within the
// replay window, or, for Generic, a stale timestamp or a signature seen
// before. Only authenticated deliveries are remembered, so forged ones
// cannot fill the memory or block a real delivery's ID.
type Handler struct {
	cfg Config
	now func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // delivery ID -> when it was accepted
}

// New checks cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	switch cfg.Provider {
	case GitHub, GitLab, Gitea, Generic:
	default:
		return nil, fmt.Errorf("webhook provider %q: want github, gitlab, gitea or generic", cfg.Provider)
	}
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("webhook %s: the secret is empty: deliveries could not be authenticated", cfg.Provider)
	}
	if cfg.Trigger == nil {
		return nil, fmt.Errorf("webhook %s: no trigger", cfg.Provider)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	return &Handler{cfg: cfg, now: time.Now, seen: map[string]time.Time{}}, nil
}

// errUnauthorized marks a delivery that is refused with 401; errReplay,
// among those, one accepted before.
var (
	errUnauthorized = errors.New("unauthorized")
	errReplay       = errors.New("replay")
)

// ServeHTTP answers a delivery and publishes what became of it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	result := h.deliver(w, r)
	if h.cfg.Events != nil {
		h.cfg.Events.Publish(notify.WebhookReceived{At: notify.At{Time: h.now()}, Provider: string(h.cfg.Provider), Result: result})
	}
}

// deliver answers a delivery and says what became of it (notify.Webhook...).
func (h *Handler) deliver(w http.ResponseWriter, r *http.Request) string {
	log := h.cfg.Log.With("provider", string(h.cfg.Provider), "remote", r.RemoteAddr, "delivery", h.claimed(r.Header))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return notify.WebhookBadRequest
	}
	body, err := readBody(w, r, h.cfg.MaxBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook refused: body too large", "limit", h.cfg.MaxBody)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return notify.WebhookTooLarge
		}
		http.Error(w, "reading body", http.StatusBadRequest)
		return notify.WebhookBadRequest
	}
	id, err := h.authenticate(r.Header, body)
	if err == nil {
		err = h.remember(id)
	}
	if err != nil {
		// The reason names what was wrong, never the values sent.
		log.Warn("webhook refused", "reason", err.Error())
		status, result := http.StatusUnauthorized, notify.WebhookUnauthorized
		switch {
		case errors.Is(err, errReplay):
			result = notify.WebhookReplay
		case !errors.Is(err, errUnauthorized):
			status, result = http.StatusBadRequest, notify.WebhookBadRequest
		}
		http.Error(w, http.StatusText(status), status)
		return result
	}
	push, ref, err := h.event(r.Header, body)
	switch {
	case err != nil:
		log.Warn("webhook refused: bad payload", "err", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return notify.WebhookBadRequest
	case !push:
		log.Debug("webhook ignored: not a push")
		fmt.Fprintln(w, "ignored: not a push")
		return notify.WebhookIgnored
	case h.cfg.Ref != "" && ref != "" && ref != h.cfg.Ref:
		log.Debug("webhook ignored: push to another reference", "ref", ref)
		fmt.Fprintf(w, "ignored: push to %s\n", ref)
		return notify.WebhookIgnored
	}
	log.Info("webhook: push, sync triggered", "ref", ref)
	h.cfg.Trigger()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "sync triggered")
	return notify.WebhookAccepted
}

// readBody reads r's body, up to limit. A body announced larger is
// refused before a byte of it is read, and its connection closed so that
// net/http does not read it either.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// claimed is the delivery as its sender names it, for every log line
// about it, authenticated or not: the provider's delivery ID, or for the
// generic provider its timestamp (its replay key is the signature, which
// is never logged). It is cut short and made printable, since anyone can
// send it.
func (h *Handler) claimed(hdr http.Header) string {
	var v string
	switch h.cfg.Provider {
	case GitHub:
		v = hdr.Get("X-GitHub-Delivery")
	case GitLab:
		v = hdr.Get("X-Gitlab-Event-UUID")
	case Gitea:
		v = hdr.Get("X-Gitea-Delivery")
	default:
		if ts := hdr.Get("X-Sailplan-Timestamp"); ts != "" {
			v = "ts:" + ts
		}
	}
	if v == "" {
		return "-"
	}
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return v
}

// authenticate checks the delivery's signature or token in constant time
// and returns its delivery ID, the key for replay detection.
func (h *Handler) authenticate(hdr http.Header, body []byte) (string, error) {
	secret := h.cfg.Secret
	switch h.cfg.Provider {
	case GitHub:
		sig, ok := strings.CutPrefix(hdr.Get("X-Hub-Signature-256"), "sha256=")
		if !ok || !validHMAC(secret, body, sig) {
			return "", fmt.Errorf("%w: X-Hub-Signature-256 missing or wrong", errUnauthorized)
		}
		return deliveryID(hdr, "X-GitHub-Delivery")
	case Gitea:
		if !validHMAC(secret, body, hdr.Get("X-Gitea-Signature")) {
			return "", fmt.Errorf("%w: X-Gitea-Signature missing or wrong", errUnauthorized)
		}
		return deliveryID(hdr, "X-Gitea-Delivery")
	case GitLab:
		// Hashing both sides first makes the comparison independent of
		// the token's length too.
		got, want := sha256.Sum256([]byte(hdr.Get("X-Gitlab-Token"))), sha256.Sum256(secret)
		if hdr.Get("X-Gitlab-Token") == "" || !hmac.Equal(got[:], want[:]) {
			return "", fmt.Errorf("%w: X-Gitlab-Token missing or wrong", errUnauthorized)
		}
		return deliveryID(hdr, "X-Gitlab-Event-UUID")
	}
	ts := hdr.Get("X-Sailplan-Timestamp")
	sig, ok := strings.CutPrefix(hdr.Get("X-Sailplan-Signature"), "sha256=")
	if !ok || ts == "" || !validHMAC(secret, append([]byte(ts+"."), body...), sig) {
		return "", fmt.Errorf("%w: X-Sailplan-Signature missing or wrong", errUnauthorized)
	}
	// Checked after the signature, so the timestamp is the sender's.
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: X-Sailplan-Timestamp is not Unix seconds", errUnauthorized)
	}
	if age := h.now().Sub(time.Unix(sec, 0)); age > GenericMaxAge || age < -GenericMaxAge {
		return "", fmt.Errorf("%w: X-Sailplan-Timestamp is %s away from now, more than %s", errUnauthorized, age.Round(time.Second), GenericMaxAge)
	}
	// A signature is unique to its timestamp and body: seeing it twice
	// within GenericMaxAge is a replay.
	return "sig:" + sig, nil
}

func deliveryID(hdr http.Header, name string) (string, error) {
	id := hdr.Get(name)
	if id == "" || len(id) > 200 {
		return "", fmt.Errorf("%s missing or too long: replays could not be detected", name)
	}
	return id, nil
}

// validHMAC reports whether sigHex is the HMAC-SHA256 of msg, compared in
// constant time.
func validHMAC(secret, msg []byte, sigHex string) bool {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return hmac.Equal(sig, m.Sum(nil))
}

// remember records an authenticated delivery, refusing one seen within the
// window. Expired IDs are dropped as new ones come, which bounds the map
// by the deliveries of one window.
func (h *Handler) remember(id string) error {
	now := h.now()
	window := h.cfg.ReplayWindow
	if strings.HasPrefix(id, "sig:") {
		window = 2 * GenericMaxAge // the timestamp check refuses it after that
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, at := range h.seen {
		w := h.cfg.ReplayWindow
		if strings.HasPrefix(k, "sig:") {
			w = 2 * GenericMaxAge
		}
		if now.Sub(at) > w {
			delete(h.seen, k)
		}
	}
	if at, ok := h.seen[id]; ok && now.Sub(at) <= window {
		if strings.HasPrefix(id, "sig:") {
			return fmt.Errorf("%w: %w: this signature was accepted at %s", errUnauthorized, errReplay, at.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("%w: %w: delivery %s was accepted at %s", errUnauthorized, errReplay, id, at.UTC().Format(time.RFC3339))
	}
	h.seen[id] = now
	return nil
}

// event reads whether the delivery is a push and to which reference.
func (h *Handler) event(hdr http.Header, body []byte) (push bool, ref string, err error) {
	switch h.cfg.Provider {
	case GitHub:
		if hdr.Get("X-GitHub-Event") != "push" {
			return false, "", nil // ping, and events the hook was not meant to send
		}
	case GitLab:
		if e := hdr.Get("X-Gitlab-Event"); e != "Push Hook" && e != "Tag Push Hook" {
			return false, "", nil
		}
	case Gitea:
		if hdr.Get("X-Gitea-Event") != "push" {
			return false, "", nil
		}
	case Generic:
		// Any authenticated delivery is a push; a JSON body may name its ref.
		if len(body) == 0 || !json.Valid(body) {
			return true, "", nil
		}
	}
	var p struct {
		Ref string `json:"ref"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return false, "", fmt.Errorf("push payload: %w", err)
	}
	if p.Ref == "" && h.cfg.Provider != Generic {
		return false, "", errors.New("push payload: no ref")
	}
	return true, p.Ref, nil
}
