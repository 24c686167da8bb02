package notify

import "time"

// Promotion is where one canary's promotion stands: a copy of the state
// promote keeps, safe to keep and share.
type Promotion struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Stable    string `json:"stable"`
	Candidate string `json:"candidate"`
	// Phase is Progressing, WaitingForApproval, Paused, Promoted,
	// RolledBack or Aborted.
	Phase string `json:"phase"`
	// Reason says why it holds, waits or ended.
	Reason string `json:"reason,omitempty"`
	// Steps are the plan's weights; ApprovalAt those that need a yes, and
	// Approvers who may give it (as the deciding front end names them).
	Steps      []int    `json:"steps"`
	ApprovalAt []int    `json:"approvalAt,omitempty"`
	Approvers  []string `json:"approvers,omitempty"`
	// Waves are what each wave serves, first wave first.
	Waves     []WaveWeight `json:"waves"`
	Decisions []Decision   `json:"decisions,omitempty"`
	Started   time.Time    `json:"started"`
}

// WaveWeight is the candidate's weight in the clusters of one wave.
type WaveWeight struct {
	Wave int `json:"wave"`
	// Step is the index of the plan's step; -1 before the first.
	Step   int       `json:"step"`
	Weight int       `json:"weight"`
	Since  time.Time `json:"since"`
}

// Decision is an answer to an approval.
type Decision struct {
	Weight   int       `json:"weight"`
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Via      string    `json:"via,omitempty"`
	At       time.Time `json:"at"`
}

// WeightIn is the candidate's weight in the clusters of a wave.
func (p Promotion) WeightIn(wave int) int {
	for _, w := range p.Waves {
		if w.Wave == wave {
			return w.Weight
		}
	}
	return 0
}

// WaitingFor is the weight of the step that waits for an approval, 0 when
// none does.
func (p Promotion) WaitingFor() int {
	if p.Phase != "WaitingForApproval" || len(p.Waves) == 0 {
		return 0
	}
	next := p.Waves[0].Step + 1
	if next < 0 || next >= len(p.Steps) {
		return 0
	}
	return p.Steps[next]
}

// PromotionEvent is implemented by every promotion event: each carries
// the promotion as it stands after it, so that a consumer needs no other
// read (sync renders the weights from it, Slack updates its message).
type PromotionEvent interface {
	Event
	Current() Promotion
}

// Change is embedded in every promotion event.
type Change struct {
	At
	Promotion Promotion `json:"promotion"`
}

// Current is the promotion after the event.
func (c Change) Current() Promotion { return c.Promotion }

// PromotionsLoaded: the promotions as stored when the controller started
// leading, before it took any step. Sync renders its first apply with
// these weights, so that a restart never moves traffic.
type PromotionsLoaded struct {
	At
	Promotions []Promotion `json:"promotions"`
}

// PromotionStarted: a new candidate (or a new stable version) starts at
// 0 %. A pause of the promotion it replaces carries over, as a
// PromotionDecided of the same pause that follows it.
type PromotionStarted struct{ Change }

// PromotionAmended: a commit changed the plan of a promotion (its timing,
// schedule, thresholds, approvals or steps) or the fleet's waves, without
// naming another candidate or stable version. The weights, the phase and
// the history stay; Message says what changed and what it means for the
// steps to come. By is the commit's author, Via "git".
type PromotionAmended struct {
	Change
	Message string `json:"message"`
	By      string `json:"by,omitempty"`
	Via     string `json:"via,omitempty"`
}

// PromotionStepped: a wave took a step.
type PromotionStepped struct {
	Change
	Wave   int `json:"wave"`
	Weight int `json:"weight"`
}

// PromotionHolding: the promotion holds, and says why: outside the
// window, analysis inconclusive or failing, not held long enough.
type PromotionHolding struct {
	Change
	Reason string `json:"reason"`
}

// ApprovalWaiting: the next step needs an approver's yes.
type ApprovalWaiting struct {
	Change
	Wave   int `json:"wave"`
	Weight int `json:"weight"`
}

// Decisions a person can take, from the CLI, Slack or a page.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
	DecisionPause   = "pause"
	DecisionResume  = "resume"
	DecisionAbort   = "abort"
	DecisionRetry   = "retry"
)

// PromotionDecided: someone decided: By is who, Via where (cli, slack,
// page). It is published for every decision, whichever process took it.
type PromotionDecided struct {
	Change
	Decision string `json:"decision"`
	Weight   int    `json:"weight,omitempty"`
	By       string `json:"by"`
	Via      string `json:"via,omitempty"`
	Message  string `json:"message"`
}

// PromotionRolledBack: the candidate is back at 0 % everywhere after
// failed analysis, or at a step whose approval was rejected (By who). A
// rejection or an abort decided by someone is a PromotionDecided.
type PromotionRolledBack struct {
	Change
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// PromotionPromoted: the candidate serves all traffic in every wave.
type PromotionPromoted struct{ Change }

// PromotionWrittenBack: sailplan committed the change that makes the
// promoted candidate stable in Git (write-back): Commit, on Branch. With
// Review, Branch is a branch of its own, pushed for a person to merge;
// else it is the branch sailplan follows, and the next sync of Commit
// changes no traffic. Message says what was done, for people.
type PromotionWrittenBack struct {
	Change
	Commit  string `json:"commit"`
	Branch  string `json:"branch"`
	Review  bool   `json:"review,omitempty"`
	Message string `json:"message"`
}

// PromotionNotWrittenBack: write-back of a promoted candidate ended
// without a commit of sailplan's, and will not be tried again: Reason says
// why, such as an intent it cannot edit safely, a push the branch refused,
// or Git already naming the candidate stable. Unless Git already does, a
// person makes the candidate stable.
type PromotionNotWrittenBack struct {
	Change
	Reason string `json:"reason"`
}

// Verdicts of an analysis.
const (
	Pass         = "pass"
	Fail         = "fail"
	Inconclusive = "inconclusive"
	Unavailable  = "unavailable"
)

// Check is one measurement of an analysis against its threshold.
type Check struct {
	Name string `json:"name"`
	// Value is what was measured; Measured is false when nothing was.
	Value    float64 `json:"value"`
	Measured bool    `json:"measured"`
	// Min and Max bound it; nil for no bound.
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Unit string   `json:"unit,omitempty"`
	// Passed is false when the value is out of bounds.
	Passed bool `json:"passed"`
}

// AnalysisResult: the candidate's traffic was measured.
type AnalysisResult struct {
	At
	Service   string `json:"service"`
	Candidate string `json:"candidate"`
	// Verdict is pass, fail, inconclusive or unavailable.
	Verdict string  `json:"verdict"`
	Summary string  `json:"summary"`
	Checks  []Check `json:"checks,omitempty"`
}
