package promote

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// Phase is where a promotion stands.
type Phase string

const (
	Progressing        Phase = "Progressing"
	WaitingForApproval Phase = "WaitingForApproval"
	Paused             Phase = "Paused"
	Promoted           Phase = "Promoted"
	RolledBack         Phase = "RolledBack"
	Aborted            Phase = "Aborted"
)

// Done reports whether the promotion has ended and takes no more steps.
func (p Phase) Done() bool { return p == Promoted || p == RolledBack || p == Aborted }

// State is one service's promotion: what the fleet's waves serve, and how
// it got there. It is stored in the home cluster and is the only input of
// the canary weights that render uses.
type State struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Stable    string `json:"stable"`
	Candidate string `json:"candidate"`
	// Plan is a digest of the canary plan the promotion follows; a plan
	// with another digest amends it (see Follow).
	Plan string `json:"plan"`
	// Spec is the plan the promotion follows, so that an amendment can
	// say what changed; states written before it was kept have none.
	Spec *schema.Canary `json:"canary,omitempty"`
	// Steps and ApprovalAt copy the plan's steps and approval weights, so
	// that decisions (from the CLI or Slack) can be checked without the
	// intents.
	Steps      []int `json:"steps"`
	ApprovalAt []int `json:"approvalAt,omitempty"`
	// Approvers copies who may approve, as the deciding front end names
	// them (Slack user or group IDs); empty means anyone allowed to write
	// the state. The CLI is governed by Kubernetes RBAC instead.
	Approvers []string `json:"approvers,omitempty"`
	Phase     Phase    `json:"phase"`
	// Reason says why the promotion holds, waits or ended.
	Reason string `json:"reason,omitempty"`
	// Waves are the fleet's waves in order; the first takes each step first.
	Waves []Wave `json:"waves"`
	// Failures counts failed analyses in a row.
	Failures int `json:"failures,omitempty"`
	// WriteBack records how the write-back of a Promoted candidate to Git
	// ended, so that it is done once (see RecordWriteBack); nil until then.
	WriteBack *WriteBack `json:"writeBack,omitempty"`

	Decisions []Answer `json:"decisions,omitempty"`
	// History is the audit record: every transition and decision, with
	// who took it and how, numbered by Seq so that whoever publishes it
	// can tell which entries are new (the history keeps the last 100).
	History []Event   `json:"history,omitempty"`
	Seq     int       `json:"seq,omitempty"`
	Started time.Time `json:"started"`
}

// Wave is what one wave of clusters serves.
type Wave struct {
	// Wave is the fleet's wave number.
	Wave int `json:"wave"`
	// Step is the index of the plan's step the wave is at; -1 before the
	// first step.
	Step int `json:"step"`
	// Weight is the candidate's weight in the wave's clusters.
	Weight int `json:"weight"`
	// Since is when the wave took its step.
	Since time.Time `json:"since"`
}

// Answer is an approver's answer for a step.
type Answer struct {
	Weight   int       `json:"weight"`
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Via      string    `json:"via,omitempty"`
	At       time.Time `json:"at"`
}

// What an entry of the history records.
const (
	KindStarted    = "started"
	KindStepped    = "stepped"
	KindWaiting    = "waiting"
	KindDecided    = "decided"
	KindRolledBack = "rolledBack"
	KindPromoted   = "promoted"
	KindAmended    = "amended"
	// Write-back of a Promoted candidate: a commit of sailplan's made it
	// stable in Git, or none will (see WriteBack).
	KindWrittenBack    = "writtenBack"
	KindNotWrittenBack = "notWrittenBack"
)

// Event is one entry of the history: a transition or a decision.
type Event struct {
	Seq     int       `json:"seq,omitempty"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind,omitempty"`
	Phase   Phase     `json:"phase"`
	Wave    int       `json:"wave,omitempty"`
	Weight  int       `json:"weight"`
	Message string    `json:"message"`
	// Decision, By and Via say what was decided, by whom and where (cli,
	// slack, page), for a decision; By alone for a rollback someone caused.
	Decision string `json:"decision,omitempty"`
	By       string `json:"by,omitempty"`
	Via      string `json:"via,omitempty"`
	// Commit, Branch and Review say where write-back committed.
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	Review bool   `json:"review,omitempty"`
}

// historyLimit keeps the stored state small: a ConfigMap holds 1 MiB.
const historyLimit = 100

// planDigest identifies a canary plan, so that a look can tell at once
// whether the promotion follows the latest commit's plan. It must stay the
// same for an unchanged plan across versions of sailplan: a promotion in
// flight during an upgrade is not amended (state_test.go pins it).
func planDigest(c *schema.Canary) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// NewState is a promotion that has not taken its first step.
func NewState(service string, svc *schema.Service, waves []int, now time.Time) *State {
	s := newState(service, svc, waves, now)
	s.record(Event{At: now, Kind: KindStarted, Phase: Progressing, Message: "promotion of " + s.Candidate + " started"})
	return s
}

// newState is a promotion at 0 % in every wave, with no history yet.
func newState(service string, svc *schema.Service, waves []int, now time.Time) *State {
	s := &State{
		Service:   service,
		Namespace: svc.Namespace,
		Stable:    svc.Canary.Stable,
		Candidate: svc.Canary.Candidate,
		Phase:     Progressing,
		Started:   now,
	}
	s.follow(svc.Canary)
	for _, w := range waves {
		s.Waves = append(s.Waves, Wave{Wave: w, Step: -1, Since: now})
	}
	return s
}

// follow copies what the state keeps of a plan.
func (s *State) follow(plan *schema.Canary) {
	s.Plan, s.Spec = planDigest(plan), plan
	s.Steps = slices.Clone(plan.Steps)
	s.ApprovalAt, s.Approvers = nil, nil
	if a := plan.Approval; a != nil {
		s.ApprovalAt = slices.Clone(a.AtWeights)
		s.Approvers = slices.Clone(a.Approvers)
	}
}

// Promotes reports whether s is the promotion of plan's candidate from
// plan's stable version. Only these two name a promotion: a commit that
// changes anything else in the plan amends s, one that changes either
// starts a new promotion (see Follow).
func (s *State) Promotes(plan *schema.Canary) bool {
	return plan != nil && s.Candidate == plan.Candidate && s.Stable == plan.Stable
}

// WeightIn returns the candidate's weight in clusters of a fleet wave.
func (s *State) WeightIn(wave int) int {
	for _, w := range s.Waves {
		if w.Wave == wave {
			return w.Weight
		}
	}
	return 0
}

func (s *State) record(e Event) Event {
	s.Seq++
	e.Seq = s.Seq
	s.History = append(s.History, e)
	if n := len(s.History); n > historyLimit {
		s.History = append([]Event(nil), s.History[n-historyLimit:]...)
	}
	return e
}

func (s *State) decision(weight int) (Answer, bool) {
	for i := len(s.Decisions) - 1; i >= 0; i-- {
		if s.Decisions[i].Weight == weight {
			return s.Decisions[i], true
		}
	}
	return Answer{}, false
}

// Promotion is the state as events carry it.
func (s *State) Promotion() notify.Promotion {
	p := notify.Promotion{
		Service: s.Service, Namespace: s.Namespace, Stable: s.Stable, Candidate: s.Candidate,
		Phase: string(s.Phase), Reason: s.Reason, Started: s.Started,
		Steps: slices.Clone(s.Steps), ApprovalAt: slices.Clone(s.ApprovalAt), Approvers: slices.Clone(s.Approvers),
	}
	for _, w := range s.Waves {
		p.Waves = append(p.Waves, notify.WaveWeight{Wave: w.Wave, Step: w.Step, Weight: w.Weight, Since: w.Since})
	}
	for _, d := range s.Decisions {
		p.Decisions = append(p.Decisions, notify.Decision{Weight: d.Weight, Approved: d.Approved, By: d.By, Via: d.Via, At: d.At})
	}
	return p
}
