package page

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
)

// via names the page in the decisions it takes.
const via = "page"

// maxBody bounds a decision's body; one is a few dozen bytes.
const maxBody = 4 << 10

// decisions are those the page offers. Abort and retry stay with the CLI:
// they are not one click's business.
var decisions = []string{notify.DecisionApprove, notify.DecisionReject, notify.DecisionPause, notify.DecisionResume}

// decisionRequest names the step and candidate the person saw, so that a
// click on a page that has moved on is refused, not applied to another
// step.
type decisionRequest struct {
	Weight    int    `json:"weight"`
	Candidate string `json:"candidate"`
}

type decisionAnswer struct {
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// serveDecision takes a decision for the identity of the request's bearer
// token, through promote.Decide as the CLI and Slack do. The token comes
// only from the Authorization header and the body must be JSON: neither
// can a cross-site form send, so another site cannot decide in the name
// of someone whose proxy adds their token.
func (p *Page) serveDecision(w http.ResponseWriter, r *http.Request) {
	service, what := r.PathValue("service"), r.PathValue("decision")
	answer := func(code int, a decisionAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(a)
	}
	refuse := func(code int, format string, args ...any) {
		answer(code, decisionAnswer{Error: fmt.Sprintf(format, args...)})
	}
	if p.Store == nil || p.Auth == nil {
		refuse(http.StatusNotFound, "this daemon takes no decisions: it runs without promotions (--home-context)")
		return
	}
	if !slices.Contains(decisions, what) {
		refuse(http.StatusNotFound, "%q is not a decision the page takes (approve, reject, pause or resume)", what)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		refuse(http.StatusUnsupportedMediaType, "a decision is a JSON body (Content-Type: application/json), as the page sends it")
		return
	}
	var req decisionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		refuse(http.StatusBadRequest, "the decision's body is not JSON of {weight, candidate}: %v", err)
		return
	}
	ctx := r.Context()
	user, err := p.Auth.Authorize(ctx, bearer(r.Header.Get("Authorization")), p.Store.Access(service))
	log := p.log().With("service", service, "decision", what, "user", user, "via", via)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		log.Warn("page decision refused: not authenticated", "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="sailplan"`)
		refuse(http.StatusUnauthorized, "%s", trim(err, ErrUnauthenticated))
		return
	case errors.Is(err, ErrForbidden):
		log.Warn("page decision refused: not allowed", "err", err)
		refuse(http.StatusForbidden, "%s", trim(err, ErrForbidden))
		return
	case err != nil:
		log.Error("page decision failed: the token could not be checked", "err", err)
		refuse(http.StatusBadGateway, "%s; nothing was decided, try again", err)
		return
	}
	_, event, err := promote.Decide(ctx, p.Store, service, promote.Decision{What: what, Weight: req.Weight, Candidate: req.Candidate, By: user, Via: via}, p.now())
	switch {
	case errors.Is(err, promote.ErrStale):
		log.Info("page decision stale", "err", err)
		refuse(http.StatusConflict, "not applied: %s", promote.Refusal(err))
	case errors.Is(err, promote.ErrBusy):
		refuse(http.StatusConflict, "%v", err)
	case err != nil:
		log.Error("page decision failed", "err", err)
		refuse(http.StatusInternalServerError, "%s: %s could not be recorded (%v); nothing changed, try again", service, what, err)
	default:
		log.Info("page decision applied")
		answer(http.StatusOK, decisionAnswer{Message: fmt.Sprintf("%s: %s", service, event.Message)})
	}
}

// trim drops the marker error's text from the message for people.
func trim(err, marker error) string {
	return strings.TrimSuffix(err.Error(), ": "+marker.Error())
}
