package compare

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sailplan/sailplan/schema"
)

// What a canary note says happens to a plan; each starts its text, and
// the verdict counts them.
var canaryVerbs = []struct{ prefix, verb string }{
	{"plan started", "started"},
	{"new promotion", "restarted"},
	{"plan amended", "amended"},
	{"plan removed", "removed"},
}

// canaryNotes says which canary plans the head starts, changes or removes
// in the intents as one cluster sees them (nil for intents that do not
// apply to it), in the words of promotion: a new candidate or stable
// version starts a new promotion at 0 %, any other change amends the
// running one without moving traffic.
func canaryNotes(base, head *schema.Intents) []Note {
	plans := func(in *schema.Intents) map[string]*schema.Canary {
		out := map[string]*schema.Canary{}
		if in != nil {
			for name, svc := range in.Services {
				if svc.Canary != nil {
					out[name] = svc.Canary
				}
			}
		}
		return out
	}
	pa, pb := plans(base), plans(head)
	names := map[string]bool{}
	for n := range pa {
		names[n] = true
	}
	for n := range pb {
		names[n] = true
	}
	var out []Note
	for _, name := range slices.Sorted(maps.Keys(names)) {
		a, b := pa[name], pb[name]
		subject := "**" + name + "**"
		switch {
		case a == nil:
			out = append(out, Note{Topic: Canary, Subject: subject, Text: "plan started: " + planString(b) + "; the candidate starts at 0 % and takes its first step " + every(b) + " after the promotion starts"})
		case b == nil:
			out = append(out, Note{Topic: Canary, Subject: subject, Text: "plan removed: no more promotion steps; the routes take the weights the intents give them"})
		case a.Candidate != b.Candidate || a.Stable != b.Stable:
			out = append(out, Note{Topic: Canary, Subject: subject, Text: fmt.Sprintf("new promotion: %s against %s (was %s against %s), from 0 %%: %s", code(b.Candidate), code(b.Stable), code(a.Candidate), code(a.Stable), planString(b))})
		default:
			if cs := planChanges(a, b); len(cs) > 0 {
				out = append(out, Note{Topic: Canary, Subject: subject, Text: "plan amended (a running promotion keeps its weight): " + joinChanges(cs)})
			}
		}
	}
	return out
}

// planString writes a plan on one line: who, the steps, how often, when,
// and where a person must say yes.
func planString(c *schema.Canary) string {
	steps := make([]string, len(c.Steps))
	for i, s := range c.Steps {
		steps[i] = strconv.Itoa(s)
	}
	s := fmt.Sprintf("%s against %s in steps of %s %%, every %s", code(c.Candidate), code(c.Stable), strings.Join(steps, " → "), every(c))
	if c.Window != "" {
		s += ", in window " + code(c.Window) + " (" + c.TimeZone + ")"
	}
	if c.Approval != nil && len(c.Approval.AtWeights) > 0 {
		ws := make([]string, len(c.Approval.AtWeights))
		for i, w := range c.Approval.AtWeights {
			ws[i] = strconv.Itoa(w)
		}
		s += ", approval at " + strings.Join(ws, ", ") + " %"
	}
	return s
}

// every is the plan's interval as the plan's JSON writes it (30m, not
// Go's 30m0s).
func every(c *schema.Canary) string {
	if s, ok := planMap(c)["every"].(string); ok {
		return code(s)
	}
	return code(c.Every.String())
}

// planChanges lists the fields of a plan that change, in the plan's own
// JSON (durations as written, such as 30m).
func planChanges(a, b *schema.Canary) []string {
	ma, mb := planMap(a), planMap(b)
	var out []string
	jsonChanges(ma, mb, "", &out)
	return out
}

func planMap(c *schema.Canary) map[string]any {
	b, err := json.Marshal(c)
	if err != nil {
		return map[string]any{"plan": err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"plan": err.Error()}
	}
	return m
}

// jsonChanges lists the leaves of two decoded JSON objects that differ;
// lists are leaves.
func jsonChanges(a, b map[string]any, prefix string, out *[]string) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		p := join(prefix, k)
		va, okA := a[k]
		vb, okB := b[k]
		if ma, ok := va.(map[string]any); ok {
			if mb, ok := vb.(map[string]any); ok {
				jsonChanges(ma, mb, p, out)
				continue
			}
		}
		sa, sb := jsonString(va, okA), jsonString(vb, okB)
		if sa != sb {
			*out = append(*out, p+": "+sa+" → "+sb)
		}
	}
}

func jsonString(v any, ok bool) string {
	if !ok {
		return "none"
	}
	if s, isString := v.(string); isString {
		return code(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return code(fmt.Sprint(v))
	}
	return code(string(b))
}
