package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/sync/kube"
)

// promotionFlags turn on canary promotion in the daemon.
type promotionFlags struct {
	homeContext   string
	leaseContext  string
	namespace     string
	prometheusURL string
	interval      time.Duration
	lease         time.Duration
}

func (p *promotionFlags) register(f *pflag.FlagSet) {
	f.StringVar(&p.homeContext, "home-context", "", "kubeconfig context of the home cluster, which holds promotion state (and the leader lease, unless --lease-context); enables promotions")
	f.StringVar(&p.leaseContext, "lease-context", "", "kubeconfig context of the cluster that holds the leader lease (default: --home-context, else the kubeconfig's current context)")
	f.StringVar(&p.namespace, "state-namespace", promote.DefaultNamespace, "namespace of the promotion states and of the leader lease")
	f.StringVar(&p.prometheusURL, "prometheus-url", "", "Prometheus with Istio's metrics, for canary analysis (without it, every step that needs analysis holds)")
	f.DurationVar(&p.interval, "promote-interval", 15*time.Second, "how often promotions are looked at")
	f.DurationVar(&p.lease, "lease-duration", 15*time.Second, "how long a standby waits for a silent leader before taking over")
}

// promotions is the promotion side of a running daemon.
type promotions struct {
	ctrl   *promote.Controller
	client kubernetes.Interface
}

// controller builds the promotion controller; nil without --home-context.
func (p *promotionFlags) controller(ctx context.Context, kubeconfig string, log *slog.Logger) (*promotions, error) {
	if p.homeContext == "" {
		return nil, nil
	}
	client, err := kube.Clientset(ctx, kubeconfig, p.homeContext, 0)
	if err != nil {
		return nil, fmt.Errorf("--home-context %s: %w", p.homeContext, err)
	}
	ctrl := &promote.Controller{Store: promote.NewStore(client, p.namespace), Log: log, Interval: p.interval}
	if p.prometheusURL != "" {
		analyzer, err := promote.NewPrometheus(p.prometheusURL)
		if err != nil {
			return nil, err
		}
		ctrl.Analyzer = analyzer
	}
	return &promotions{ctrl: ctrl, client: client}, nil
}

// election is the leader election every `sailplan run` takes part in,
// one replica or several: only the replica that holds the Lease syncs,
// promotes and writes the status, so that two replicas never both write
// to the clusters. Standbys serve the probes, webhooks and Slack clicks.
type election struct {
	client kubernetes.Interface
	// where is the Lease's context, for the log and errors.
	where string
	opts  promote.LeaderOptions
}

// election finds the cluster of the Lease: --lease-context, else
// --home-context (whose client promotions already has), else the
// kubeconfig's current context. The Lease is named like the ApplySet
// parent (name), so that two sailplan instances that keep different
// parents in the same clusters (--applyset-name) do not wait for each
// other's lease.
func (p *promotionFlags) election(ctx context.Context, kubeconfig string, promotions *promotions, name, id string, log *slog.Logger) (*election, error) {
	e := &election{where: p.leaseContext, opts: promote.LeaderOptions{
		Namespace:     p.namespace,
		Name:          name,
		Identity:      id,
		LeaseDuration: p.lease,
		Log:           log,
	}}
	flag := "--lease-context"
	if e.where == "" && p.homeContext != "" {
		e.where, flag = p.homeContext, "--home-context"
	}
	if e.where == "" {
		cur, err := currentContext(kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		if cur == "" {
			return nil, errors.New("the leader lease needs a cluster: give --lease-context (or --home-context), or set the kubeconfig's current-context")
		}
		e.where, flag = cur, "the kubeconfig's current context"
	}
	if promotions != nil && e.where == p.homeContext {
		e.client = promotions.client
	} else {
		client, err := kube.Clientset(ctx, kubeconfig, e.where, 0)
		if err != nil {
			return nil, fmt.Errorf("leader lease in %s %s: %w", flag, e.where, err)
		}
		e.client = client
	}
	if err := e.check(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// String says where the Lease is, for the log.
func (e *election) String() string {
	return e.opts.Namespace + "/" + e.opts.Name + " in " + e.where
}

// currentContext is the current context of the kubeconfig at path (the
// default loading rules when path is empty), as kube.RESTConfig finds it.
func currentContext(path string) (string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	raw, err := rules.Load()
	if err != nil {
		return "", err
	}
	return raw.CurrentContext, nil
}

// run runs lead while this replica holds the Lease, until ctx ends; it
// returns once lead has returned and the Lease is given up.
//
// client-go gives the Lease up as soon as the election's context ends,
// without waiting for the leader's work, and may start leading again
// while the work of the last term still winds down. So the election runs
// under a context of its own that ends only after lead has returned, and
// one lead runs at a time: at shutdown, a standby can take the Lease only
// once this replica has stopped writing. (A lease lost because renewals
// failed for two thirds of --lease-duration ends the term at once, a
// third of the lease before a standby may take it over; client-go still
// tries to give it back at once, which succeeds only if the apiserver
// that refused the renewals answers again.)
func (e *election) run(ctx context.Context, lead func(ctx context.Context)) error {
	electing, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	var term sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- promote.RunAsLeader(electing, e.client, e.opts, func(held context.Context) {
			term.Lock()
			defer term.Unlock()
			// A term ends when the Lease is lost or the process stops,
			// whichever comes first.
			work, cancel := context.WithCancel(held)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			if work.Err() == nil {
				lead(work)
			}
		})
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// The term under way ends (its context is ctx's too); then the Lease
	// is given up.
	term.Lock()
	stopElecting()
	term.Unlock()
	return <-done
}

// check refuses to start when this replica may not read the Lease: it
// would wait as a standby for ever, answering its probes as if all were
// well. A cluster that does not answer now may later: client-go retries.
func (e *election) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := e.client.CoordinationV1().Leases(e.opts.Namespace).Get(ctx, e.opts.Name, metav1.GetOptions{})
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return fmt.Errorf("leader lease %s: %w (sailplan needs get, create and update on leases in %s there: deploy/rbac)", e, err, e.opts.Namespace)
	}
	return nil
}
