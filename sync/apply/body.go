package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/render"
)

// digested is what is kept of a rendered object's body: its digest, and
// the commit it was rendered with.
type digested struct {
	digest, commit string
}

// bodies keeps the digest of every rendered object an apply was given,
// keyed by the object itself: sync hands the very same objects over for
// intents that did not change (render.Renderer), so an unchanged object
// costs a lookup, not an encoding and a hash (they were a sixth of a
// one-service change's time with 1,000 services). Bodies themselves are
// made only to be sent, or compared with a drifted object: kept for every
// object they were a fifth of the daemon's live heap. It keeps the
// digests of the objects of the last two syncs: next starts a sync.
type bodies struct {
	mu         gosync.Mutex
	kept, used map[*unstructured.Unstructured]digested
	// made counts the digests computed, for tests.
	made int
}

// next starts a sync: digests not asked for since the last call are dropped.
func (b *bodies) next() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kept, b.used = b.used, nil
}

// of returns the digest of obj's body, computed once.
func (b *bodies) of(obj *unstructured.Unstructured, setID string) (digested, error) {
	b.mu.Lock()
	got, ok := b.used[obj]
	if !ok {
		got, ok = b.kept[obj]
	}
	b.mu.Unlock()
	if !ok {
		var err error
		if got, err = digestOf(obj, setID); err != nil {
			return digested{}, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok {
		b.made++
	}
	if b.used == nil {
		b.used = map[*unstructured.Unstructured]digested{}
	}
	b.used[obj] = got
	return got, nil
}

// digestOf hashes the body of obj without its commit annotation, so that
// a commit that changes nothing writes nothing.
func digestOf(obj *unstructured.Unstructured, setID string) (digested, error) {
	data, err := json.Marshal(bodyOf(obj, setID, "", "").Object)
	if err != nil {
		return digested{}, objErr(keyOf(obj), "encoding: %w", err)
	}
	sum := sha256.Sum256(data)
	commit, _, _ := unstructured.NestedString(obj.Object, "metadata", "annotations", render.AnnotationCommit)
	return digested{digest: hex.EncodeToString(sum[:]), commit: commit}, nil
}

// bodyOf is what sailplan sends for obj: a copy of its metadata with the
// ApplySet label, the digest and the commit (each left out when empty),
// sharing the rest with obj, which neither may change (a deep copy of
// every object on every sync was most of what a sync allocated).
func bodyOf(obj *unstructured.Unstructured, setID, digest, commit string) *unstructured.Unstructured {
	out := ownMeta(obj)
	labels := out.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelPartOf] = setID
	out.SetLabels(labels)
	// GetAnnotations and SetAnnotations copy the map: obj's stays as it is.
	ann := out.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	delete(ann, render.AnnotationCommit)
	delete(ann, AnnotationDigest)
	if commit != "" {
		ann[render.AnnotationCommit] = commit
	}
	if digest != "" {
		ann[AnnotationDigest] = digest
	}
	out.SetAnnotations(ann)
	return out
}

// ownMeta is a copy of obj that may have its metadata changed and shares
// everything else, which neither it nor obj may change.
func ownMeta(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := make(map[string]any, len(obj.Object))
	for k, v := range obj.Object {
		out[k] = v
	}
	if m, ok := obj.Object["metadata"].(map[string]any); ok {
		meta := make(map[string]any, len(m))
		for k, v := range m {
			meta[k] = v
		}
		out["metadata"] = meta
	}
	return &unstructured.Unstructured{Object: out}
}
