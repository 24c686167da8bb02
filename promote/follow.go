package promote

import (
	"fmt"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// Follow brings a service's promotion (prev, nil when it has none) to the
// canary plan and the fleet's waves of the latest commit. It returns the
// state to store and the entry it recorded, or prev and nil when prev
// already follows them. It is pure, like Advance.
//
// A plan that names another candidate or stable version starts a new
// promotion at 0 %; anything else amends prev (see Amend), whatever its
// phase. A pause of the promotion it replaces carries over: the new one
// starts paused, and says by whom. An approval or an abort does not: they
// were about the candidate being replaced, and the new promotion's first
// entry says how that one stood.
func Follow(prev *State, service string, svc *schema.Service, waves []int, commit notify.Commit, now time.Time) (*State, *Event) {
	if prev == nil {
		st := NewState(service, svc, waves, now)
		return st, &st.History[len(st.History)-1]
	}
	if prev.Promotes(svc.Canary) {
		return prev, prev.Amend(svc.Canary, waves, commit, now)
	}
	st := newState(service, svc, waves, now)
	// Numbering goes on from the promotion replaced, so that whoever
	// publishes the history never mistakes the new entries for old ones.
	st.Seq = prev.Seq
	e := st.event(now, Event{Kind: KindStarted, Phase: Progressing,
		Message: fmt.Sprintf("promotion of %s started, replacing the promotion of %s (%s)", st.Candidate, prev.Candidate, prev.standing())})
	if prev.Phase == Paused {
		pause, _ := prev.lastDecided(notify.DecisionPause)
		by, via := pause.By, pause.Via
		st.Phase, st.Reason = Paused, "paused"+byWhom(by)+", carried over from the promotion of "+prev.Candidate
		e = st.event(now, Event{Kind: KindDecided, Phase: Paused, Decision: notify.DecisionPause, By: by, Via: via, Message: st.Reason})
	}
	return st, e
}
