package apply

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sailplan/sailplan/sync/kube"
)

// ApplySet (KEP-3659) labels and annotations, as kubectl spells them in
// k8s.io/kubectl/pkg/cmd/apply/applyset.go.
const (
	// LabelPartOf on a member holds its ApplySet's id.
	LabelPartOf = "applyset.kubernetes.io/part-of"
	// LabelApplySetID on the parent holds the ApplySet's id.
	LabelApplySetID = "applyset.kubernetes.io/id"
	// AnnotationTooling on the parent names the tool that manages the set;
	// tools refuse to change sets that belong to another tool.
	AnnotationTooling = "applyset.kubernetes.io/tooling"
	// AnnotationContainsGroupKinds on the parent lists the kinds members
	// may have (Kind.group, comma-separated, sorted), so that a tool knows
	// what to list when pruning.
	AnnotationContainsGroupKinds = "applyset.kubernetes.io/contains-group-kinds"
	// AnnotationAdditionalNamespaces on the parent lists the namespaces,
	// other than the parent's own, that hold members.
	AnnotationAdditionalNamespaces = "applyset.kubernetes.io/additional-namespaces"
	// Tooling is the value of AnnotationTooling on sailplan's parents.
	Tooling = "sailplan/v1"

	// DefaultParentNamespace and DefaultParentName locate the ApplySet
	// parent ConfigMap unless Options say otherwise.
	DefaultParentNamespace = "sailplan-system"
	DefaultParentName      = "sailplan"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Inventory is sailplan's ApplySet in one cluster: a ConfigMap parent that
// says which kinds and namespaces the members are in, and the members,
// which carry the part-of label. kubectl reads the same conventions:
//
//	kubectl get virtualservices -A -l applyset.kubernetes.io/part-of=ID
type Inventory struct {
	Namespace, Name string
}

func newInventory(namespace, name string) *Inventory {
	return &Inventory{Namespace: namespace, Name: name}
}

// ID is the ApplySet id as KEP-3659 specifies it:
// "applyset-" + base64url(sha256(name.namespace.kind.group)) + "-v1", of
// the parent; a ConfigMap's group is empty.
func (inv *Inventory) ID() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{inv.Name, inv.Namespace, "ConfigMap", ""}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

func (inv *Inventory) ref() string { return "ConfigMap/" + inv.Namespace + "/" + inv.Name }

// parentState is what the parent says.
type parentState struct {
	exists     bool
	groupKinds []string // sorted Kind.group
	namespaces []string // sorted, including the parent's own when it has members
}

// readParent reads the parent. A parent that another tool manages is an
// error: its members are not sailplan's to change or prune.
func (c *Cluster) readParent(ctx context.Context) (parentState, error) {
	inv := c.inventory
	u, err := c.client.Resource(configMaps).Namespace(inv.Namespace).Get(ctx, inv.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return parentState{}, nil
	}
	if err != nil {
		return parentState{}, inventoryError(c, fmt.Errorf("%s: reading: %w", inv.ref(), err))
	}
	ann := u.GetAnnotations()
	if t := ann[AnnotationTooling]; t != "" && !strings.HasPrefix(t, "sailplan/") {
		return parentState{}, fmt.Errorf("%s: the ApplySet belongs to %s, not sailplan: choose another parent (--applyset-name)", inv.ref(), t)
	}
	if id := u.GetLabels()[LabelApplySetID]; id != "" && id != inv.ID() {
		return parentState{}, fmt.Errorf("%s: label %s is %q, want %q", inv.ref(), LabelApplySetID, id, inv.ID())
	}
	st := parentState{exists: true}
	st.groupKinds = splitList(ann[AnnotationContainsGroupKinds])
	st.namespaces = splitList(ann[AnnotationAdditionalNamespaces])
	return st, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	slices.Sort(out)
	return slices.Compact(out)
}

// union merges sorted lists.
func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// writeParent makes the parent say want, unless it already does: an
// unchanged parent costs no write.
func (c *Cluster) writeParent(ctx context.Context, have, want parentState) error {
	inv := c.inventory
	var nss []string
	for _, ns := range want.namespaces {
		if ns != inv.Namespace {
			nss = append(nss, ns)
		}
	}
	want.namespaces = nss
	if have.exists && slices.Equal(have.groupKinds, want.groupKinds) && slices.Equal(have.namespaces, want.namespaces) {
		return nil
	}
	ann := map[string]any{
		AnnotationTooling:              Tooling,
		AnnotationContainsGroupKinds:   strings.Join(want.groupKinds, ","),
		AnnotationAdditionalNamespaces: strings.Join(want.namespaces, ","),
	}
	parent := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":        inv.Name,
			"namespace":   inv.Namespace,
			"labels":      map[string]any{LabelApplySetID: inv.ID()},
			"annotations": ann,
		},
	}
	data, err := json.Marshal(parent)
	if err != nil {
		return fmt.Errorf("%s: encoding: %w", inv.ref(), err)
	}
	// The parent is sailplan's by its name: forcing only takes back what
	// an edit took.
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	_, err = c.client.Resource(configMaps).Namespace(inv.Namespace).Patch(ctx, inv.Name, types.ApplyPatchType, data, opts)
	if apierrors.IsNotFound(err) {
		if err := kube.EnsureNamespace(ctx, c.core, inv.Namespace); err != nil {
			return inventoryError(c, fmt.Errorf("Namespace/%s: creating the ApplySet parent's namespace: %w", inv.Namespace, err))
		}
		_, err = c.client.Resource(configMaps).Namespace(inv.Namespace).Patch(ctx, inv.Name, types.ApplyPatchType, data, opts)
	}
	if err != nil {
		return inventoryError(c, fmt.Errorf("%s: writing: %w", inv.ref(), err))
	}
	return nil
}

func inventoryError(c *Cluster, err error) error {
	if kube.IsUnreachable(err) {
		return kube.Unreachable(err)
	}
	return err
}

// groupKindsOf returns the sorted Kind.group names of objs, as the
// contains-group-kinds annotation spells them, and their namespaces.
func groupKindsOf(objs []desired) (gks, nss []string) {
	gkSet, nsSet := map[string]bool{}, map[string]bool{}
	for _, d := range objs {
		gkSet[d.key.groupKind().String()] = true
		if d.key.Namespace != "" {
			nsSet[d.key.Namespace] = true
		}
	}
	return slices.Sorted(maps.Keys(gkSet)), slices.Sorted(maps.Keys(nsSet))
}

// watchedResources maps the kinds the parent lists and the kinds about to
// be applied to the resources to watch. A listed kind the cluster no longer
// serves cannot have members and is left out.
func (c *Cluster) watchedResources(parentGKs []string, objs []desired) ([]schema.GroupVersionResource, map[schema.GroupKind]bool) {
	seen := map[schema.GroupVersionResource]bool{}
	gks := map[schema.GroupKind]bool{}
	var out []schema.GroupVersionResource
	add := func(gvr schema.GroupVersionResource, gk schema.GroupKind) {
		gks[gk] = true
		if !seen[gvr] {
			seen[gvr] = true
			out = append(out, gvr)
		}
	}
	for _, d := range objs {
		add(d.mapping.Resource, d.key.groupKind())
	}
	for _, s := range parentGKs {
		gk := schema.ParseGroupKind(s)
		if gks[gk] {
			continue
		}
		m, err := c.mapper.RESTMapping(gk)
		if err != nil {
			continue
		}
		add(m.Resource, gk)
	}
	return out, gks
}
