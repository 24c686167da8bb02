package promote

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// Amend brings the promotion to a changed plan of the same candidate and
// stable version, or to a fleet whose waves changed, and records what
// changed; it returns nil when the promotion already follows both. It is
// pure, like Advance.
//
// An amendment never moves traffic: every wave keeps its weight, the
// phase stays (a pause stays a pause, a Promoted candidate keeps 100 %)
// and so does the history. What it changes is what comes next:
//
//   - steps: each wave is placed at the highest new step not above its
//     weight; a weight that is no longer a step stays as it is, and the
//     wave's next step is the first one above it;
//   - waves: a wave that left the fleet is dropped; one that joined starts
//     at 0 % and walks up behind the wave before it, one step an interval,
//     or at 100 % when the promotion is already Promoted;
//   - approvals apply to steps not taken yet; a wait for an approval that
//     the plan no longer asks for ends;
//   - timing, schedule and thresholds apply from the next look on.
func (s *State) Amend(plan *schema.Canary, waves []int, commit notify.Commit, now time.Time) *Event {
	before := waveNumbers(s)
	if s.Plan == planDigest(plan) && slices.Equal(before, waves) {
		return nil
	}
	var changes []string
	if s.Plan != planDigest(plan) {
		changes = planChanges(s.Spec, plan)
		if s.Spec == nil && !slices.Equal(s.Steps, plan.Steps) {
			changes = append(changes, fmt.Sprintf("steps: %v → %v", s.Steps, plan.Steps))
		}
	}
	if !slices.Equal(before, waves) {
		changes = append(changes, fmt.Sprintf("waves: %v → %v", before, waves))
	}
	asked := s.ApprovalAt
	s.Waves = s.rewave(waves, plan.Steps, now)
	s.follow(plan)
	lead := s.Waves[0]
	for _, w := range s.ApprovalAt {
		if w <= lead.Weight && !slices.Contains(asked, w) {
			changes = append(changes, fmt.Sprintf("the step to %d%% is already taken: its approval applies to no step", w))
		}
	}
	if s.Phase == WaitingForApproval {
		next := lead.Step + 1
		if next < len(s.Steps) && slices.Contains(s.ApprovalAt, s.Steps[next]) {
			s.Reason = fmt.Sprintf("step to %d%% needs an approval", s.Steps[next])
		} else {
			s.Phase, s.Reason = Progressing, ""
			changes = append(changes, "no approval is asked for the next step any more")
		}
	}
	if len(changes) == 0 {
		changes = []string{"the plan"} // a state written before the plan was kept
	}
	msg := fmt.Sprintf("plan amended by %s: %s; weights and phase kept", commitName(commit), strings.Join(changes, "; "))
	return s.event(now, Event{Kind: KindAmended, Phase: s.Phase, Wave: lead.Wave, Weight: lead.Weight, Message: msg, By: commit.Author, Via: "git"})
}

// rewave places the fleet's waves on steps: the waves kept keep their
// weight and since, those that joined start at 0 (at 100 once Promoted).
func (s *State) rewave(waves, steps []int, now time.Time) []Wave {
	out := make([]Wave, 0, len(waves))
	for _, n := range waves {
		i := slices.IndexFunc(s.Waves, func(w Wave) bool { return w.Wave == n })
		switch {
		case i >= 0:
			w := s.Waves[i]
			w.Step = stepAt(steps, w.Weight)
			out = append(out, w)
		case s.Phase == Promoted:
			out = append(out, Wave{Wave: n, Step: len(steps) - 1, Weight: steps[len(steps)-1], Since: now})
		default:
			out = append(out, Wave{Wave: n, Step: -1, Since: now})
		}
	}
	return out
}

// stepAt is the index of the highest step not above weight; -1 when the
// first step is above it.
func stepAt(steps []int, weight int) int {
	i := -1
	for j, w := range steps {
		if w <= weight {
			i = j
		}
	}
	return i
}

// commitName names the commit that amended a plan, for people.
func commitName(c notify.Commit) string {
	if c.Hash == "" {
		return "a commit"
	}
	return "commit " + c.Short()
}

// planChanges lists what differs between two plans, field by field
// (analysis.successRate: 99 → 99.5), as their JSON has it. Without the old
// plan (a state from before it was kept) it lists nothing.
func planChanges(old, cur *schema.Canary) []string {
	if old == nil {
		return nil
	}
	a, b := flatten(old), flatten(cur)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(union(a, b))) {
		was, inOld := a[k]
		is, inNew := b[k]
		switch {
		case !inOld:
			out = append(out, fmt.Sprintf("%s: %s (new)", k, is))
		case !inNew:
			out = append(out, fmt.Sprintf("%s: %s (removed)", k, was))
		case was != is:
			out = append(out, fmt.Sprintf("%s: %s → %s", k, was, is))
		}
	}
	return out
}

// flatten is a plan's JSON as dotted paths to values; lists are values.
func flatten(c *schema.Canary) map[string]string {
	var doc map[string]any
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &doc)
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
		case string:
			out[prefix] = v
		default:
			b, _ := json.Marshal(v)
			out[prefix] = strings.ReplaceAll(string(b), ",", ", ")
		}
	}
	walk("", doc)
	return out
}

func union(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
