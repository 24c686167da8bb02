package schema

import "time"

// Service is the traffic intent for one mesh service.
type Service struct {
	Namespace      string             `json:"namespace"`
	Host           string             `json:"host,omitempty"`
	Hosts          []string           `json:"hosts,omitempty"`
	Port           int                `json:"port,omitempty"`
	Gateways       []string           `json:"gateways,omitempty"`
	Versions       map[string]Version `json:"versions,omitempty"`
	Policy         Policy             `json:"policy,omitempty"`
	Routes         []Route            `json:"routes"`
	Timeout        *time.Duration     `json:"timeout,omitempty"`
	Retries        *Retries           `json:"retries,omitempty"`
	Canary         *Canary            `json:"canary,omitempty"`
	Expose         []Expose           `json:"expose,omitempty"`
	ForceConflicts bool               `json:"forceConflicts,omitempty"`
}

// Version is a set of pods of a service, rendered as a DestinationRule subset.
type Version struct {
	Labels map[string]string `json:"labels"`
	Policy Policy            `json:"policy,omitempty"`
}

// Policy is a traffic policy in Istio's JSON shape (DestinationRule
// trafficPolicy), durations as the user wrote them. It stays generic: the
// schema closes it field by field, and render hands it to Istio's own
// decoder, so every Istio field works without a copy of Istio's types.
type Policy map[string]any

// Route is one HTTP route of a service. It goes to versions (To), to other
// hosts (Destinations) or answers with a redirect; a route with none of
// them takes the canary's current split.
type Route struct {
	Name         string         `json:"name,omitempty"`
	Match        []Match        `json:"match,omitempty"`
	To           map[string]int `json:"to,omitempty"`
	Destinations []Destination  `json:"destinations,omitempty"`
	Redirect     *Redirect      `json:"redirect,omitempty"`
	Rewrite      *Rewrite       `json:"rewrite,omitempty"`
	Headers      *HeaderChanges `json:"headers,omitempty"`
	Timeout      *time.Duration `json:"timeout,omitempty"`
	Retries      *Retries       `json:"retries,omitempty"`
	Fault        *Fault         `json:"fault,omitempty"`
	Mirror       *Mirror        `json:"mirror,omitempty"`
	CORS         *CORS          `json:"cors,omitempty"`
}

// Match is one alternative of a route's match; all its conditions must hold.
type Match struct {
	URI             *StringMatch           `json:"uri,omitempty"`
	Headers         map[string]StringMatch `json:"headers,omitempty"`
	WithoutHeaders  map[string]StringMatch `json:"withoutHeaders,omitempty"`
	QueryParams     map[string]StringMatch `json:"queryParams,omitempty"`
	Method          *StringMatch           `json:"method,omitempty"`
	Authority       *StringMatch           `json:"authority,omitempty"`
	IgnoreURICase   bool                   `json:"ignoreUriCase,omitempty"`
	Port            int                    `json:"port,omitempty"`
	SourceLabels    map[string]string      `json:"sourceLabels,omitempty"`
	SourceNamespace string                 `json:"sourceNamespace,omitempty"`
	Gateways        []string               `json:"gateways,omitempty"`
}

// StringMatch holds exactly one of its fields.
type StringMatch struct {
	Exact  *string `json:"exact,omitempty"`
	Prefix *string `json:"prefix,omitempty"`
	Regex  *string `json:"regex,omitempty"`
}

// Destination is a weighted destination on any host.
type Destination struct {
	Host    string `json:"host"`
	Version string `json:"version,omitempty"`
	Port    int    `json:"port,omitempty"`
	Weight  int    `json:"weight"`
}

// Redirect answers a route's requests with an HTTP redirect.
type Redirect struct {
	URI       string `json:"uri,omitempty"`
	Authority string `json:"authority,omitempty"`
	Port      int    `json:"port,omitempty"`
	Scheme    string `json:"scheme,omitempty"`
	Code      int    `json:"code"`
}

// Rewrite changes the path or authority before forwarding.
type Rewrite struct {
	URI       string    `json:"uri,omitempty"`
	Authority string    `json:"authority,omitempty"`
	URIRegex  *RegexSub `json:"uriRegex,omitempty"`
}

// RegexSub is a regular expression and its replacement.
type RegexSub struct {
	Match   string `json:"match"`
	Rewrite string `json:"rewrite"`
}

// HeaderChanges changes request and response headers.
type HeaderChanges struct {
	Request  *HeaderOps `json:"request,omitempty"`
	Response *HeaderOps `json:"response,omitempty"`
}

// HeaderOps sets, appends to and removes headers.
type HeaderOps struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Retries retries failed requests.
type Retries struct {
	Attempts      int            `json:"attempts"`
	PerTryTimeout *time.Duration `json:"perTryTimeout,omitempty"`
	// RetryOn holds condition names and HTTP status codes (numbers).
	RetryOn []any `json:"retryOn,omitempty"`
}

// Fault injects delays and aborts.
type Fault struct {
	Delay *FaultDelay `json:"delay,omitempty"`
	Abort *struct {
		Percent    float64 `json:"percent"`
		HTTPStatus int     `json:"httpStatus"`
	} `json:"abort,omitempty"`
}

// FaultDelay delays a share of requests by a fixed time.
type FaultDelay struct {
	Percent    float64       `json:"percent"`
	FixedDelay time.Duration `json:"fixedDelay"`
}

// Mirror copies a share of requests to another destination.
type Mirror struct {
	Host    string  `json:"host,omitempty"`
	Version string  `json:"version,omitempty"`
	Port    int     `json:"port,omitempty"`
	Percent float64 `json:"percent"`
}

// CORS is a route's cross-origin policy. AllowOrigins holds strings (exact
// origins) and StringMatch-shaped maps.
type CORS struct {
	AllowOrigins     []any          `json:"allowOrigins"`
	AllowMethods     []string       `json:"allowMethods,omitempty"`
	AllowHeaders     []string       `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string       `json:"exposeHeaders,omitempty"`
	MaxAge           *time.Duration `json:"maxAge,omitempty"`
	AllowCredentials *bool          `json:"allowCredentials,omitempty"`
}

// Expose serves the service through a gateway under public hosts.
type Expose struct {
	Gateway string   `json:"gateway"`
	Hosts   []string `json:"hosts"`
	Paths   []string `json:"paths,omitempty"`
}

// Canary is a plan for moving traffic from a stable to a candidate version.
type Canary struct {
	Stable string `json:"stable"`
	// Candidate is empty when the canary is at rest (see AtRest). It is
	// never left out of the JSON, so that the digest of a plan with a
	// candidate stays what it was before a candidate could be absent.
	Candidate string        `json:"candidate"`
	Steps     []int         `json:"steps"`
	Every     time.Duration `json:"every"`
	Window    string        `json:"window,omitempty"`
	TimeZone  string        `json:"timeZone"`
	Blackouts []Blackout    `json:"blackouts,omitempty"`
	Analysis  Analysis      `json:"analysis"`
	Approval  *Approval     `json:"approval,omitempty"`
}

// AtRest reports whether the canary names no candidate: the stable
// version takes the whole split, and the plan waits for the next
// candidate. Write-back leaves a promoted canary so.
func (c *Canary) AtRest() bool { return c.Candidate == "" }

// Blackout is a period, starting at each minute a cron expression
// matches, when no step advances.
type Blackout struct {
	Start    string        `json:"start"`
	Duration time.Duration `json:"duration"`
}

// Analysis holds the thresholds a step must pass.
type Analysis struct {
	SuccessRate  float64          `json:"successRate"`
	LatencyP99   time.Duration    `json:"latencyP99"`
	MinRequests  int              `json:"minRequests"`
	FailureLimit int              `json:"failureLimit"`
	Queries      map[string]Query `json:"queries,omitempty"`
}

// Query is a custom PromQL check with bounds.
type Query struct {
	Query string   `json:"query"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
}

// Approval says which steps need an approver's yes, and who may give it.
type Approval struct {
	AtWeights []int `json:"atWeights"`
	Slack     *struct {
		Channel string `json:"channel"`
	} `json:"slack,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
}
