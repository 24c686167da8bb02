package notify

// What became of a push webhook delivery (WebhookReceived.Result).
const (
	// WebhookAccepted: an authenticated push to the followed reference;
	// a sync was asked for.
	WebhookAccepted = "accepted"
	// WebhookIgnored: authenticated, but not a push, or a push to another
	// reference.
	WebhookIgnored = "ignored"
	// WebhookUnauthorized: the signature or token was missing or wrong,
	// or the signed time too far from now.
	WebhookUnauthorized = "unauthorized"
	// WebhookReplay: authenticated, but its delivery ID (for the generic
	// provider, its signature) was accepted before.
	WebhookReplay = "replay"
	// WebhookTooLarge: the body was over the limit.
	WebhookTooLarge = "too_large"
	// WebhookBadRequest: not a POST, a body that could not be read, no
	// delivery ID, or a payload that is not a push.
	WebhookBadRequest = "bad_request"
)

// WebhookReceived: a push webhook delivery was answered. Every replica
// publishes its own, leader or not.
type WebhookReceived struct {
	At
	// Provider is github, gitlab, gitea or generic.
	Provider string `json:"provider"`
	Result   string `json:"result"`
}

// What became of a Slack interaction (InteractionReceived.Result).
const (
	// InteractionApplied: the decision is in the promotion state.
	InteractionApplied = "applied"
	// InteractionNotAllowed: the user is not an approver.
	InteractionNotAllowed = "not_allowed"
	// InteractionStale: a second click, or the step had moved.
	InteractionStale = "stale"
	// InteractionFailed: the state could not be written, or who may
	// decide could not be told.
	InteractionFailed = "failed"
	// InteractionIgnored: not a click on an approval button.
	InteractionIgnored = "ignored"
	// InteractionUnauthorized: Slack's signature was missing or wrong.
	InteractionUnauthorized = "unauthorized"
	// InteractionTooLarge: the body was over the limit.
	InteractionTooLarge = "too_large"
	// InteractionBadRequest: not a POST, or a body that could not be
	// read or parsed.
	InteractionBadRequest = "bad_request"
)

// InteractionReceived: a Slack interaction (over HTTP or Socket Mode) was
// handled. Every replica publishes its own, leader or not.
type InteractionReceived struct {
	At
	Result string `json:"result"`
}
