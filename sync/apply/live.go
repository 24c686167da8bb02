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
// its metadata, and the rest (spec and whatever else but the status) as
// JSON. A decoded object was about 13 KB of maps per VirtualService or
// DestinationRule, and the cache of 1,000 services on three clusters most
// of the daemon's memory (issue 15); as JSON it is a few times smaller.
// It is decoded only when drift detection must look inside, which the
// digest makes rare: intact says the object holds exactly what its digest
// annotation stands for, as sailplan applied it.
type liveObject struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	// rest is the object without metadata and status, as JSON.
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
	l.Labels = u.GetLabels()
	l.Annotations = u.GetAnnotations()
	delete(l.Annotations, lastApplied)
	rest := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
		default:
			rest[k] = v
		}
	}
	var err error
	if l.rest, err = json.Marshal(rest); err != nil {
		return nil, err
	}
	if want := l.Annotations[AnnotationDigest]; want != "" {
		// What withDigest hashes: the object as applied, without the
		// commit and the digest.
		ann := map[string]string{}
		for k, v := range l.Annotations {
			if k != render.AnnotationCommit && k != AnnotationDigest {
				ann[k] = v
			}
		}
		meta := map[string]any{"name": l.Name}
		if l.Namespace != "" {
			meta["namespace"] = l.Namespace
		}
		if len(l.Labels) > 0 {
			meta["labels"] = l.Labels
		}
		meta["annotations"] = ann
		rest["apiVersion"], rest["kind"], rest["metadata"] = l.APIVersion, l.Kind, meta
		if b, err := json.Marshal(rest); err == nil {
			sum := sha256.Sum256(b)
			l.intact = hex.EncodeToString(sum[:]) == want
		}
	}
	return l, nil
}

func (l *liveObject) key() objKey {
	return objKey{Group: l.GroupVersionKind().Group, Kind: l.Kind, Namespace: l.Namespace, Name: l.Name}
}

// holds says whether the object still holds everything body, an object
// sailplan applied, says (see drifted).
func (l *liveObject) holds(body *unstructured.Unstructured) bool {
	digest, _, _ := unstructured.NestedString(body.Object, "metadata", "annotations", AnnotationDigest)
	if l.intact && l.Annotations[AnnotationDigest] == digest {
		return true
	}
	u, err := l.decode()
	if err != nil {
		return false
	}
	return !drifted(body, u)
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
	u.SetLabels(l.Labels)
	u.SetAnnotations(l.Annotations)
	return u, nil
}
