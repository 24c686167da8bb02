package slack

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/client-go/util/retry"

	"github.com/sailplan/sailplan/sync/kube"
)

// Ref locates a promotion's root message in Slack. Candidate and Started
// tell one promotion of a service from the next: a new candidate or plan
// starts a new promotion, and gets a new root message.
type Ref struct {
	Candidate string    `json:"candidate"`
	Started   time.Time `json:"started"`
	Channel   string    `json:"channel"`
	TS        string    `json:"ts"`
}

func (r Ref) of(candidate string, started time.Time) bool {
	return r.TS != "" && r.Candidate == candidate && r.Started.Equal(started)
}

// RefStore keeps the root message of each service's promotion, so that a
// restarted daemon (or a new leader) updates it instead of posting another.
type RefStore interface {
	Get(ctx context.Context, service string) (Ref, bool, error)
	Put(ctx context.Context, service string, r Ref) error
}

// MemoryRefs is a RefStore for a single process with no home cluster.
type MemoryRefs struct {
	mu sync.Mutex
	m  map[string]Ref
}

func (m *MemoryRefs) Get(_ context.Context, service string) (Ref, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[service]
	return r, ok, nil
}

func (m *MemoryRefs) Put(_ context.Context, service string, r Ref) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Ref{}
	}
	m.m[service] = r
	return nil
}

// RefsConfigMap is the ConfigMap, in the promotion state namespace, that
// holds the root messages: one JSON document of every service's Ref. It
// is separate from the promotion states on purpose: the store rewrites
// those whole on every transition, and Slack bookkeeping must never race
// a promotion's precondition or appear in its history.
const RefsConfigMap = "sailplan-slack"

// refsKey is the ConfigMap's data key that holds the document.
const refsKey = "refs.json"

// ConfigMapRefs keeps refs in RefsConfigMap in the home cluster.
type ConfigMapRefs struct {
	docs kube.Documents
}

// NewConfigMapRefs keeps refs in RefsConfigMap in namespace; the
// ConfigMap (and the namespace) are created on first use.
func NewConfigMapRefs(client kube.Client, namespace string) *ConfigMapRefs {
	return &ConfigMapRefs{docs: kube.Documents{Client: client, Namespace: namespace, Key: refsKey}}
}

// refs is the document: Ref by service.
type refs map[string]Ref

func (c *ConfigMapRefs) Get(ctx context.Context, service string) (Ref, bool, error) {
	var all refs
	if _, _, err := c.docs.Get(ctx, RefsConfigMap, &all); err != nil {
		return Ref{}, false, err
	}
	r, ok := all[service]
	return r, ok, nil
}

// Put sets one service's Ref: it reads the document and writes it back at
// the version read, and reads again when another writer (the root of
// another service, another replica) wrote in between, so that no writer's
// Ref is lost.
func (c *ConfigMapRefs) Put(ctx context.Context, service string, r Ref) error {
	return retry.OnError(retry.DefaultRetry, func(err error) bool { return errors.Is(err, kube.ErrConflict) }, func() error {
		var all refs
		version, _, err := c.docs.Get(ctx, RefsConfigMap, &all)
		if err != nil {
			return err
		}
		if all == nil {
			all = refs{}
		}
		all[service] = r
		_, err = c.docs.Put(ctx, RefsConfigMap, all, version)
		return err
	})
}
