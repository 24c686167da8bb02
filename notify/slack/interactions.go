package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
)

// maxInteractionBody bounds what is read of a request before its
// signature is checked. Slack's block_actions payloads carry the whole
// message and stay well under this.
const maxInteractionBody = 1 << 20

// Interactions takes approval clicks from Slack, over HTTP or Socket
// Mode, and decides through promote.Decide, the path of every front end.
// It tells nobody of a decision: the leader publishes it from the
// promotion's history, whoever took it. It only answers the user whose
// click changed nothing.
type Interactions struct {
	// SigningSecret verifies HTTP requests; Socket Mode needs none (the
	// connection is authenticated by the app-level token).
	SigningSecret string
	// Store holds the promotion states.
	Store *promote.Store
	// Approvers checks who may decide.
	Approvers *Approvers
	// Slack answers users (ephemeral messages); its queue retries.
	Slack *Notifier
	Log   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Events receives a notify.InteractionReceived for every interaction,
	// with its Outcome; nil publishes none.
	Events Publisher
}

// Publisher receives what the handler does; notify.Bus is the real one.
type Publisher interface {
	Publish(e notify.Event)
}

// Outcome is what became of an interaction.
type Outcome string

const (
	Ignored    Outcome = notify.InteractionIgnored    // not an approval button
	Applied    Outcome = notify.InteractionApplied    // the decision is in the promotion state
	NotAllowed Outcome = notify.InteractionNotAllowed // the user is not an approver
	Stale      Outcome = notify.InteractionStale      // a second click, or the step moved
	Failed     Outcome = notify.InteractionFailed     // the state could not be written
	// Refused over HTTP before the interaction is read: the signature is
	// wrong, the body too large, or the request cannot be read.
	Unauthorized Outcome = notify.InteractionUnauthorized
	TooLarge     Outcome = notify.InteractionTooLarge
	BadRequest   Outcome = notify.InteractionBadRequest
)

var errNotAllowed = errors.New("not an approver of this promotion")

// ServeHTTP is /slack/interactions. It verifies the signature and the
// timestamp (at most five minutes off) before it parses anything, and
// answers 200 to every verified request: the outcome reaches the user as
// a message, since Slack shows an error for anything else. Every request
// is published with its outcome.
func (h *Interactions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cb, refused := h.read(w, r)
	if refused != "" {
		h.publish(refused)
		return
	}
	h.Handle(r.Context(), cb)
	w.WriteHeader(http.StatusOK)
}

// read reads and verifies the interaction of a request. A request it
// refuses is answered, and the outcome says why.
func (h *Interactions) read(w http.ResponseWriter, r *http.Request) (slackapi.InteractionCallback, Outcome) {
	var cb slackapi.InteractionCallback
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return cb, BadRequest
	}
	body, err := readBody(w, r, maxInteractionBody)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return cb, TooLarge
	case err != nil:
		// Cut short, or past the server's read timeout.
		http.Error(w, "reading body", http.StatusBadRequest)
		return cb, BadRequest
	}
	if err := verify(r.Header, body, h.SigningSecret); err != nil {
		h.log().Warn("slack interaction refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "signature refused", http.StatusUnauthorized)
		return cb, Unauthorized
	}
	cb, err = parseInteraction(body)
	if err != nil {
		h.log().Warn("slack interaction unreadable", "err", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return cb, BadRequest
	}
	return cb, ""
}

func (h *Interactions) publish(o Outcome) {
	if h.Events != nil {
		h.Events.Publish(notify.InteractionReceived{At: notify.At{Time: h.now()}, Result: string(o)})
	}
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

// verify checks Slack's v0 signature of body with slack-go's verifier,
// which compares in constant time and refuses a timestamp more than five
// minutes away.
func verify(header http.Header, body []byte, secret string) error {
	if secret == "" {
		return errors.New("slack signature: no signing secret configured")
	}
	v, err := slackapi.NewSecretsVerifier(header, secret)
	if err != nil {
		return fmt.Errorf("slack signature: %w", err)
	}
	if _, err := v.Write(body); err != nil {
		return fmt.Errorf("slack signature: %w", err)
	}
	if err := v.Ensure(); err != nil {
		return fmt.Errorf("slack signature: %w", err)
	}
	return nil
}

// parseInteraction reads a verified interaction request body: a form
// whose payload field is the interaction's JSON.
func parseInteraction(body []byte) (slackapi.InteractionCallback, error) {
	var cb slackapi.InteractionCallback
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return cb, fmt.Errorf("interaction: %w", err)
	}
	payload := form.Get("payload")
	if payload == "" {
		return cb, errors.New("interaction: no payload")
	}
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		return cb, fmt.Errorf("interaction: %w", err)
	}
	return cb, nil
}

// decision is an approval button click, read from an interaction.
type decision struct {
	approve bool
	value   buttonValue
}

// approvalClick finds the approval button in cb; ok is false when cb is
// not a click on one.
func approvalClick(cb slackapi.InteractionCallback) (decision, bool, error) {
	if cb.Type != slackapi.InteractionTypeBlockActions {
		return decision{}, false, nil
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a == nil || (a.ActionID != actionApprove && a.ActionID != actionReject) {
			continue
		}
		v, err := decodeButtonValue(a.Value)
		if err != nil {
			return decision{}, true, err
		}
		return decision{approve: a.ActionID == actionApprove, value: v}, true, nil
	}
	return decision{}, false, nil
}

// Handle processes one interaction, from HTTP or Socket Mode, answers
// the user when the click changed nothing, and publishes the outcome. A
// decision is applied at most once: the state's precondition and the step
// the button names turn a second click, or a click on a step that moved,
// into promote.ErrStale.
func (h *Interactions) Handle(ctx context.Context, cb slackapi.InteractionCallback) Outcome {
	o := h.handle(ctx, cb)
	h.publish(o)
	return o
}

func (h *Interactions) handle(ctx context.Context, cb slackapi.InteractionCallback) Outcome {
	d, ok, err := approvalClick(cb)
	if !ok {
		return Ignored
	}
	user, channel := cb.User.ID, cb.Channel.ID
	if err != nil {
		h.answer(channel, user, "This button is not a sailplan approval.")
		return Ignored
	}
	what, verb := notify.DecisionApprove, "approval"
	if !d.approve {
		what, verb = notify.DecisionReject, "rejection"
	}
	_, _, err = promote.Decide(ctx, h.Store, d.value.Service, promote.Decision{
		What: what, Weight: d.value.Weight, Candidate: d.value.Candidate, By: slackBy(cb.User), Via: via,
		Allowed: func(ctx context.Context, st *promote.State) error {
			ok, err := h.Approvers.Allowed(ctx, st.Approvers, user)
			if err != nil {
				return err
			}
			if !ok {
				return errNotAllowed
			}
			return nil
		},
	}, h.now())
	log := h.log().With("service", d.value.Service, "candidate", d.value.Candidate, "weight", d.value.Weight, "user", user, "decision", verb)
	switch {
	case err == nil:
		log.Info("slack decision applied")
		return Applied
	case errors.Is(err, errNotAllowed):
		log.Warn("slack decision refused: not an approver")
		h.answer(channel, user, fmt.Sprintf("You are not allowed to decide the promotion of %s; nothing changed.", d.value.Service))
		return NotAllowed
	case errors.Is(err, promote.ErrStale):
		log.Info("slack decision stale", "err", err)
		h.answer(channel, user, fmt.Sprintf("Your %s of %s at %d%% was not applied: %s.", verb, d.value.Service, d.value.Weight, staleReason(err)))
		return Stale
	default:
		log.Error("slack decision failed", "err", err)
		h.answer(channel, user, fmt.Sprintf("Your %s of %s could not be recorded (%v); nothing changed, try again.", verb, d.value.Service, err))
		return Failed
	}
}

func (h *Interactions) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// staleReason turns ErrStale's text into something for a person: the
// refusal in its own words, with the Slack users it names as mentions,
// which Slack shows by their current names.
func staleReason(err error) string {
	return slackAuthorRE.ReplaceAllString(promote.Refusal(err), "<@$1>")
}

// slackAuthorRE finds a Slack author as slackBy records it, within a text.
var slackAuthorRE = regexp.MustCompile(`slack:([UW][A-Z0-9]+):(?:[\w.\-]*[\w\-])?`)

func (h *Interactions) answer(channel, user, text string) {
	if h.Slack == nil || channel == "" || user == "" {
		return
	}
	h.Slack.ephemeral(channel, user, text)
}

func (h *Interactions) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// RunSocketMode takes interactions over a Socket Mode connection, for
// daemons that Slack cannot reach, until ctx ends. Each is acknowledged
// at once, then handled like an HTTP one.
func (h *Interactions) RunSocketMode(ctx context.Context, sm *socketmode.Client) error {
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt, ok := <-sm.Events:
			if !ok {
				return nil
			}
			h.socketEvent(ctx, sm, evt)
		}
	}
}

func (h *Interactions) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeInteractive:
		if evt.Request != nil {
			if err := sm.AckCtx(ctx, evt.Request.EnvelopeID, nil); err != nil {
				h.log().Warn("slack socket mode: ack failed", "err", err)
			}
		}
		if cb, ok := evt.Data.(slackapi.InteractionCallback); ok {
			h.Handle(ctx, cb)
		}
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		h.log().Warn("slack socket mode", "event", evt.Type, "data", fmt.Sprint(evt.Data))
	case socketmode.EventTypeConnected:
		h.log().Info("slack socket mode connected")
	}
}
