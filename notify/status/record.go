package status

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/sync/kube"
)

// Where the status is kept in each cluster: a ConfigMap next to the
// ApplySet parent, named after it, so that two sailplan instances with
// different parents keep two statuses.
const (
	// Key is the ConfigMap's data key.
	Key = "status.json"
	// Suffix makes the ConfigMap's name from the parent's.
	Suffix = "-status"
	// labelStatus marks the ConfigMap as a sailplan status.
	labelStatus = "sailplan.dev/status"
)

// Record is what is kept: the status, and who wrote it when.
type Record struct {
	Status notify.Status `json:"status"`
	// WrittenBy names the process that wrote it (sailplan run on a host,
	// or sailplan apply by a user).
	WrittenBy string    `json:"writtenBy"`
	Written   time.Time `json:"written"`
}

// Place is where the status is kept in every cluster.
type Place struct {
	// Kubeconfig is the kubeconfig whose contexts name the clusters; the
	// default loading rules when empty.
	Kubeconfig string
	// Namespace and Name are the ConfigMap's.
	Namespace, Name string
	// Timeout bounds each request, so that a cluster that does not answer
	// costs no more than that.
	Timeout time.Duration

	mu      sync.Mutex
	clients map[string]kube.Client
}

// NamePlace is the ConfigMap that keeps the status next to the ApplySet
// parent parentName.
func NamePlace(parentName string) string { return parentName + Suffix }

func (p *Place) docs(c kube.Client) kube.Documents {
	return kube.Documents{Client: c, Namespace: p.Namespace, Key: Key, Labels: map[string]string{labelStatus: "fleet"}}
}

// client is the client of the cluster of kubeconfig context name, made once.
func (p *Place) client(ctx context.Context, name string) (kube.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[name]; ok {
		return c, nil
	}
	cs, err := kube.Clientset(ctx, p.Kubeconfig, name, p.Timeout)
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", name, err)
	}
	if p.clients == nil {
		p.clients = map[string]kube.Client{}
	}
	p.clients[name] = cs.CoreV1()
	return cs.CoreV1(), nil
}

// Copy is one cluster's copy of the record, or why it could not be read.
type Copy struct {
	Cluster string
	// Found is false when the cluster holds no status (sailplan never
	// wrote one there) or could not be read (Err).
	Found   bool
	Record  Record
	Version string
	Err     error
}

// Read reads the record from every cluster at once; each costs at most
// the Timeout.
func (p *Place) Read(ctx context.Context, clusters []string) []Copy {
	out := make([]Copy, len(clusters))
	var wg sync.WaitGroup
	for i, name := range clusters {
		wg.Go(func() {
			out[i] = Copy{Cluster: name}
			c, err := p.client(ctx, name)
			if err != nil {
				out[i].Err = err
				return
			}
			var rec Record
			version, found, err := p.docs(c).Get(ctx, p.Name, &rec)
			if err != nil {
				out[i].Err = fmt.Errorf("cluster %s: %w", name, err)
				return
			}
			if found && rec.Status.Version > notify.StatusVersion {
				out[i].Err = fmt.Errorf("cluster %s: %s: status version %d is newer than this sailplan understands (%d): upgrade it",
					name, p.docs(c).Ref(p.Name), rec.Status.Version, notify.StatusVersion)
				return
			}
			out[i].Found, out[i].Record, out[i].Version = found, rec, version
		})
	}
	wg.Wait()
	return out
}

// Newest is the most recently updated of the copies found; ok is false
// when none was.
func Newest(copies []Copy) (Copy, bool) {
	var best Copy
	ok := false
	for _, c := range copies {
		if c.Found && (!ok || c.Record.Status.Updated.After(best.Record.Status.Updated)) {
			best, ok = c, true
		}
	}
	return best, ok
}
