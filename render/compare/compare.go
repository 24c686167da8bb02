package compare

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"google.golang.org/protobuf/proto"

	"github.com/sailplan/sailplan/render"
	"github.com/sailplan/sailplan/schema"
)

// Side is one commit's intents, or why there are none.
type Side struct {
	// Commit is the commit's hash.
	Commit string
	// Intents are the commit's loaded intents; nil when Err is set.
	Intents *schema.Intents
	// Err is why the commit has no intents: schema.Errors (every error,
	// file:line:column), a limit the evaluation hit, or a missing intent
	// directory.
	Err error
}

// Options say what to compare.
type Options struct {
	// Cluster limits the comparison to one cluster of the fleet.
	Cluster string
	// Path is the intent directory in the repository; errors name their
	// files with it, so that they are repository paths.
	Path string
}

// Action is what a change does to an object.
type Action string

// The actions, in the words sync's log uses for them.
const (
	Added   Action = "added"
	Changed Action = "changed"
	Removed Action = "removed"
)

// Report is what the head does to the fleet that the base rendered.
type Report struct {
	Base string `json:"base"`
	Head string `json:"head"`
	// HeadErrors, when the head's intents do not load, are its errors, one
	// a line, file:line first: sailplan would reject the head, so nothing
	// else is compared.
	HeadErrors []string `json:"headErrors,omitempty"`
	// BaseErrors, when the base's intents do not load (or the base has no
	// intent directory), say why: the head is compared with nothing, every
	// object added.
	BaseErrors []string `json:"baseErrors,omitempty"`
	// Canaries says that a service of either side has a canary plan: both
	// are rendered before any promotion, the candidate at 0 %.
	Canaries bool `json:"canaries,omitempty"`
	// Clusters is every cluster of either side's fleet, by name; one
	// cluster named "" when neither declares any.
	Clusters []Cluster `json:"clusters,omitempty"`
	// Live is, when asked for, what applying the head would change in
	// each cluster now; see Live.
	Live []Live `json:"live,omitempty"`
}

// Cluster is what the head does to one cluster.
type Cluster struct {
	Name string `json:"name"`
	// Wave is the cluster's wave in the head (in the base if it leaves).
	Wave int `json:"wave"`
	// Leaves says that the head's fleet no longer has the cluster.
	// Removing a cluster from the fleet does not prune it, so one that
	// leaves has no object changes.
	Leaves bool `json:"leaves,omitempty"`
	// Fleet notes the cluster's place in the fleet changing: it joins or
	// leaves the fleet, or changes waves.
	Fleet []Note `json:"fleet,omitempty"`
	// Objects are the objects added, changed and removed, by Kind, then
	// namespace, then name.
	Objects []Change `json:"objects,omitempty"`
	// Canaries are the canary plans started, changed or removed.
	Canaries []Note `json:"canaries,omitempty"`
}

// Change is one object added, changed or removed in a cluster.
type Change struct {
	// Object is Kind/namespace/name.
	Object    string `json:"object"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Service is the service intent the object comes from, if any.
	Service string `json:"service,omitempty"`
	Action  Action `json:"action"`
	// Notes say in words what changes.
	Notes []Note `json:"notes,omitempty"`
	// Diff is a unified diff of the base's object against the head's, as
	// YAML, from /dev/null when added, to /dev/null when removed.
	Diff string `json:"diff"`
}

// Topic is what a note is about; the Markdown has a section for each.
type Topic string

// The topics, in the order the Markdown shows them: security first.
const (
	Security Topic = "security"
	Fleet    Topic = "fleet"
	Routing  Topic = "routing"
	Canary   Topic = "canary"
	Other    Topic = "other"
)

// Note is one change said in words.
type Note struct {
	Topic Topic `json:"topic"`
	// Warn marks a security change that lets more through: a DENY removed
	// or narrowed, an ALLOW widened, mTLS weakened, a token issuer added.
	Warn bool `json:"warn,omitempty"`
	// Subject is what changes, in Markdown: a service, or Kind `ns/name`.
	Subject string `json:"subject"`
	// Text is the change, in Markdown (values in code spans).
	Text string `json:"text"`
}

// Changes counts what the report shows changing: objects, fleet
// membership and canary plans, in every cluster.
func (r *Report) Changes() int {
	n := 0
	for _, c := range r.Clusters {
		n += len(c.Objects) + len(c.Fleet) + len(c.Canaries)
	}
	return n
}

// eachNote calls f with every note of every cluster, with the cluster's
// name: its fleet notes, its objects', then its canary plans'.
func (r *Report) eachNote(f func(cluster string, n Note)) {
	for _, c := range r.Clusters {
		for _, n := range c.Fleet {
			f(c.Name, n)
		}
		for _, o := range c.Objects {
			for _, n := range o.Notes {
				f(c.Name, n)
			}
		}
		for _, n := range c.Canaries {
			f(c.Name, n)
		}
	}
}

// Compare renders base and head for every cluster of their fleets and
// says what the head changes. Both are rendered without promotion state
// (every canary's candidate at 0 %) and without the commit annotation,
// which would change every object. A head with Err is reported with its
// errors and nothing else; a base with Err is taken as no intents at all.
// The error is for intents that load but do not render.
func Compare(base, head Side, opts Options) (*Report, error) {
	r := &Report{Base: base.Commit, Head: head.Commit}
	if head.Err != nil {
		r.HeadErrors = errorLines(head.Err, opts.Path)
		return r, nil
	}
	if head.Intents == nil {
		return nil, errors.New("compare: the head has neither intents nor an error")
	}
	if base.Err != nil {
		r.BaseErrors = errorLines(base.Err, opts.Path)
		base.Intents = nil
	}
	names, err := clusterNames(base.Intents, head.Intents, opts.Cluster)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		c, err := compareCluster(base.Intents, head.Intents, name)
		if err != nil {
			return nil, err
		}
		r.Clusters = append(r.Clusters, c)
	}
	r.Canaries = hasCanary(base.Intents) || hasCanary(head.Intents)
	return r, nil
}

// errorLines are an error's lines as a user reads them: one per
// schema.Error, its file under the repository's root.
func errorLines(err error, dir string) []string {
	var es schema.Errors
	if !errors.As(err, &es) {
		return []string{err.Error()}
	}
	out := make([]string, len(es))
	for i, e := range es {
		if dir != "" && e.Pos.Filename != "" {
			e.Pos.Filename = path.Join(dir, e.Pos.Filename)
		}
		out[i] = e.Error()
	}
	return out
}

// clusterNames is every cluster either side declares, sorted, or only the
// one asked for.
func clusterNames(base, head *schema.Intents, only string) ([]string, error) {
	set := map[string]bool{}
	for _, in := range []*schema.Intents{base, head} {
		if in != nil {
			for name := range in.Fleet.Clusters {
				set[name] = true
			}
		}
	}
	if only != "" {
		if !set[only] {
			return nil, fmt.Errorf("cluster %q is in neither commit's fleet (hint: its clusters are %s)", only, strings.Join(slices.Sorted(maps.Keys(set)), ", "))
		}
		return []string{only}, nil
	}
	if len(set) == 0 {
		// What every cluster has in common is all there is to show.
		return []string{""}, nil
	}
	return slices.Sorted(maps.Keys(set)), nil
}

func hasCanary(in *schema.Intents) bool {
	if in == nil {
		return false
	}
	for _, svc := range in.Services {
		if svc.Canary != nil {
			return true
		}
	}
	return false
}

// member is whether the intents apply to the cluster at all: a cluster
// outside a fleet that declares clusters gets nothing from them.
func member(in *schema.Intents, name string) (schema.Cluster, bool) {
	if in == nil {
		return schema.Cluster{}, false
	}
	if name == "" {
		return schema.Cluster{}, len(in.Fleet.Clusters) == 0
	}
	c, ok := in.Fleet.Clusters[name]
	return c, ok
}

func compareCluster(base, head *schema.Intents, name string) (Cluster, error) {
	bc, inBase := member(base, name)
	hc, inHead := member(head, name)
	out := Cluster{Name: name, Wave: hc.Wave}
	switch {
	case inBase && !inHead:
		out.Wave, out.Leaves = bc.Wave, true
		out.Fleet = []Note{{Topic: Fleet, Subject: clusterSubject(name), Text: "leaves the fleet: sailplan stops syncing it and leaves its objects as they are (a cluster removed from the fleet is not pruned)"}}
		return out, nil
	case !inBase && inHead && base != nil:
		out.Fleet = []Note{{Topic: Fleet, Subject: clusterSubject(name), Text: fmt.Sprintf("joins the fleet in wave %d", hc.Wave)}}
	case inBase && bc.Wave != hc.Wave:
		out.Fleet = []Note{{Topic: Fleet, Subject: clusterSubject(name), Text: fmt.Sprintf("wave %d → %d", bc.Wave, hc.Wave)}}
	}
	from, err := objects(base, name, inBase)
	if err != nil {
		return out, fmt.Errorf("base: %w", err)
	}
	to, err := objects(head, name, inHead)
	if err != nil {
		return out, fmt.Errorf("head: %w", err)
	}
	keys := map[string]bool{}
	for k := range from {
		keys[k] = true
	}
	for k := range to {
		keys[k] = true
	}
	// Security first, here as in the Markdown: a reviewer reading the
	// unified diff from the top meets them before anything else.
	order := sortedKeys(keys)
	slices.SortStableFunc(order, func(a, b string) int {
		return boolOrder(securityKinds[kindOf(a)], securityKinds[kindOf(b)])
	})
	for _, k := range order {
		ch, err := change(from[k], to[k])
		if err != nil {
			return out, err
		}
		if ch != nil {
			out.Objects = append(out.Objects, *ch)
		}
	}
	out.Canaries = canaryNotes(view(base, name, inBase), view(head, name, inHead))
	return out, nil
}

func clusterSubject(name string) string { return "cluster " + code(name) }

// view is the intents as the cluster sees them, nil when they do not
// apply to it.
func view(in *schema.Intents, cluster string, applies bool) *schema.Intents {
	if !applies {
		return nil
	}
	if cluster == "" {
		return in
	}
	return in.ForCluster(cluster)
}

// rendered is one object as rendered, with its YAML for the diff.
type rendered struct {
	obj  render.Object
	spec proto.Message
	yaml string
}

func objects(in *schema.Intents, cluster string, applies bool) (map[string]*rendered, error) {
	out := map[string]*rendered{}
	if !applies {
		return out, nil
	}
	objs, err := render.Render(in, render.Options{Cluster: cluster})
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		u, err := render.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		// The commit annotation records history, not intent: every
		// object would differ by it.
		ann := u.GetAnnotations()
		delete(ann, render.AnnotationCommit)
		u.SetAnnotations(ann)
		b, err := render.MarshalYAML(u.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding as YAML: %w", objectKey(o), err)
		}
		spec, _ := render.Spec(o)
		out[objectKey(o)] = &rendered{obj: o, spec: spec, yaml: string(b)}
	}
	return out, nil
}

func objectKey(o render.Object) string {
	return o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetNamespace() + "/" + o.GetName()
}

// kindOf is the Kind of an objectKey.
func kindOf(key string) string { return key[:strings.IndexByte(key, '/')] }

// boolOrder orders true before false.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

func sortedKeys(m map[string]bool) []string {
	out := slices.Collect(maps.Keys(m))
	sort.Strings(out)
	return out
}

// change compares one object's two versions; nil when they are the same.
func change(from, to *rendered) (*Change, error) {
	a, b := "", ""
	if from != nil {
		a = from.yaml
	}
	if to != nil {
		b = to.yaml
	}
	if a == b {
		return nil, nil
	}
	some := to
	if some == nil {
		some = from
	}
	key := objectKey(some.obj)
	ch := &Change{
		Object:    key,
		Kind:      some.obj.GetObjectKind().GroupVersionKind().Kind,
		Namespace: some.obj.GetNamespace(),
		Name:      some.obj.GetName(),
		Service:   some.obj.GetLabels()[render.LabelService],
		Action:    Changed,
	}
	fromFile, toFile := "base/"+key, "head/"+key
	switch {
	case from == nil:
		ch.Action, fromFile = Added, "/dev/null"
	case to == nil:
		ch.Action, toFile = Removed, "/dev/null"
	}
	diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(a), B: lines(b),
		FromFile: fromFile, ToFile: toFile, Context: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	ch.Diff = diff
	ch.Notes = notes(ch, from, to)
	return ch, nil
}

// lines splits YAML into its lines, each with its newline; none for no
// object (difflib.SplitLines would give one empty line, which the diff
// would show as context).
func lines(s string) []string {
	out := strings.SplitAfter(s, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// notes says a change in words, by kind: security, routing, or the
// fields that change; "changed (see the diff)" when words fail.
func notes(ch *Change, from, to *rendered) []Note {
	var a, b proto.Message
	if from != nil {
		a = from.spec
	}
	if to != nil {
		b = to.spec
	}
	subject := objectSubject(ch)
	topic := Other
	var out []Note
	switch {
	case a != nil && b != nil && proto.Equal(a, b):
		out = metadataNotes(subject, from.obj, to.obj)
	case isSecurity(a, b):
		topic, out = Security, securityNotes(subject, ch.Namespace, a, b)
	case isRouting(a, b):
		topic, out = Routing, routingNotes(subject, a, b)
	default:
		out = otherNotes(subject, ch.Action, a, b)
	}
	if len(out) == 0 {
		out = []Note{{Topic: topic, Subject: subject, Text: "changed (see the diff)"}}
	}
	return out
}

// objectSubject names an object in a note: with its service, if any.
func objectSubject(ch *Change) string {
	id := ch.Kind + " " + code(ch.Namespace+"/"+ch.Name)
	if ch.Service != "" {
		return "**" + ch.Service + "** (" + id + ")"
	}
	return id
}
