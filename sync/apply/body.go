package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sailplan/sailplan/render"
)

// body is what sailplan sends for a rendered object: the object with the
// ApplySet label and its digest.
type body struct {
	obj *unstructured.Unstructured
	// digest is the AnnotationDigest of obj, and commit its commit
	// annotation, read once.
	digest, commit string
}

// bodies keeps the body of every rendered object an apply was given,
// keyed by the object itself: sync hands the very same objects over for
// intents that did not change (render.Renderer), so an unchanged object
// costs a lookup, not an encoding and a hash (they were a sixth of a
// one-service change's time with 1,000 services). It keeps the bodies of
// the objects of the last two syncs: next starts a sync.
type bodies struct {
	mu         gosync.Mutex
	kept, used map[*unstructured.Unstructured]body
}

// next starts a sync: bodies not asked for since the last call are dropped.
func (b *bodies) next() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kept, b.used = b.used, nil
}

// of returns the body of obj, made once.
func (b *bodies) of(obj *unstructured.Unstructured, setID string) (body, error) {
	b.mu.Lock()
	got, ok := b.used[obj]
	if !ok {
		got, ok = b.kept[obj]
	}
	b.mu.Unlock()
	if !ok {
		var err error
		if got, err = makeBody(obj, setID); err != nil {
			return body{}, err
		}
	}
	b.remember(obj, got)
	return got, nil
}

// recommit makes obj's body, got, carry commit from now on, and returns it.
func (b *bodies) recommit(obj *unstructured.Unstructured, got body, commit string) *unstructured.Unstructured {
	got.obj, got.commit = withCommit(got.obj, commit), commit
	b.remember(obj, got)
	return got.obj
}

func (b *bodies) remember(obj *unstructured.Unstructured, got body) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used == nil {
		b.used = map[*unstructured.Unstructured]body{}
	}
	b.used[obj] = got
}

// makeBody is the body of obj: a copy of its metadata with the ApplySet
// label and the digest, sharing the rest with obj, which neither may
// change (a deep copy of every object on every sync was most of what a
// sync allocated). The digest hashes the body without its commit
// annotation, so that a commit that changes nothing writes nothing.
func makeBody(obj *unstructured.Unstructured, setID string) (body, error) {
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
	commit, hasCommit := ann[render.AnnotationCommit]
	delete(ann, render.AnnotationCommit)
	delete(ann, AnnotationDigest)
	out.SetAnnotations(ann)
	data, err := json.Marshal(out.Object)
	if err != nil {
		return body{}, objErr(keyOf(obj), "encoding: %w", err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if hasCommit && commit != "" {
		ann[render.AnnotationCommit] = commit
	}
	ann[AnnotationDigest] = digest
	out.SetAnnotations(ann)
	return body{obj: out, digest: digest, commit: commit}, nil
}

// withCommit is a copy of b's metadata that carries commit, sharing the rest.
func withCommit(b *unstructured.Unstructured, commit string) *unstructured.Unstructured {
	out := ownMeta(b)
	ann := out.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[render.AnnotationCommit] = commit
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
