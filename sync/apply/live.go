package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/sailplan/sailplan/render"
)

// liveObject is what the watch cache keeps of an object in the cluster:
// what identifies it, the three annotations and the label sailplan reads,
// and the rest (labels, annotations, spec and whatever else but the status)
// as JSON. A decoded object was about 13 KB of maps per VirtualService or
// DestinationRule, and the cache of 1,000 services on three clusters most
// of the daemon's memory (issue 15); as JSON it is a few times smaller,
// and its labels and annotations as maps were another 5 MB. It is decoded
// only when drift detection must look inside, which the digest makes rare:
// intact says the object holds exactly what its digest annotation stands
// for, as sailplan applied it.
type liveObject struct {
	metav1.TypeMeta
	// ObjectMeta holds the name, namespace, UID, resource version and
	// generation; labels and annotations are in rest.
	metav1.ObjectMeta
	// digest and commit are its AnnotationDigest and render.AnnotationCommit
	// (hasCommit: it has one), partOf its LabelPartOf.
	digest, commit, partOf string
	hasCommit              bool
	// rest is the object without status, and with only the labels and
	// annotations of its metadata, as JSON.
	rest []byte
	// intact: the object's content (rest, name, namespace, labels and
	// annotations but the commit) hashes to its digest annotation.
	intact bool
}

// newLiveObject keeps what the cache needs of u, which it may take apart.
func newLiveObject(u *unstructured.Unstructured) (*liveObject, error) {
	l := &liveObject{TypeMeta: metav1.TypeMeta{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()}}
	l.Name, l.Namespace = u.GetName(), u.GetNamespace()
	l.UID, l.ResourceVersion, l.Generation = u.GetUID(), u.GetResourceVersion(), u.GetGeneration()
	labels, _, _ := unstructured.NestedStringMap(u.Object, "metadata", "labels")
	ann, _, _ := unstructured.NestedStringMap(u.Object, "metadata", "annotations")
	delete(ann, lastApplied)
	l.partOf = labels[LabelPartOf]
	l.digest = ann[AnnotationDigest]
	l.commit, l.hasCommit = ann[render.AnnotationCommit]
	rest := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
		default:
			rest[k] = v
		}
	}
	meta := map[string]any{}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	if len(ann) > 0 {
		meta["annotations"] = ann
	}
	rest["metadata"] = meta
	var err error
	if l.rest, err = json.Marshal(rest); err != nil {
		return nil, err
	}
	if l.digest != "" {
		// What a body's digest hashes: the object as applied, without
		// the commit and the digest.
		hashed := map[string]string{}
		for k, v := range ann {
			if k != render.AnnotationCommit && k != AnnotationDigest {
				hashed[k] = v
			}
		}
		m := map[string]any{"name": l.Name}
		if l.Namespace != "" {
			m["namespace"] = l.Namespace
		}
		if len(labels) > 0 {
			m["labels"] = labels
		}
		m["annotations"] = hashed
		rest["apiVersion"], rest["kind"], rest["metadata"] = l.APIVersion, l.Kind, m
		if b, err := json.Marshal(rest); err == nil {
			sum := sha256.Sum256(b)
			l.intact = hex.EncodeToString(sum[:]) == l.digest
		}
	}
	return l, nil
}

func (l *liveObject) key() objKey {
	return objKey{Group: l.GroupVersionKind().Group, Kind: l.Kind, Namespace: l.Namespace, Name: l.Name}
}

// holds says whether the object still holds everything an object that
// sailplan applied says (see drifted): at once when it is intact with
// digest, else by comparing it with body, which makes the object as
// applied and is called only then.
func (l *liveObject) holds(digest string, body func() *unstructured.Unstructured) bool {
	if l.intact && l.digest == digest {
		return true
	}
	u, err := l.decode()
	if err != nil {
		return false
	}
	return !drifted(body(), u)
}

// decode is the object as the cluster had it, without what the cache drops.
func (l *liveObject) decode() (*unstructured.Unstructured, error) {
	obj := map[string]any{}
	// As the watch decoded it: integers stay int64.
	if err := utiljson.Unmarshal(l.rest, &obj); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(l.APIVersion)
	u.SetKind(l.Kind)
	u.SetName(l.Name)
	u.SetNamespace(l.Namespace)
	u.SetUID(l.UID)
	u.SetResourceVersion(l.ResourceVersion)
	u.SetGeneration(l.Generation)
	return u, nil
}
