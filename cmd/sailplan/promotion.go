package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/sync/kube"
)

// promotionFlags turn on canary promotion in the daemon.
type promotionFlags struct {
	homeContext   string
	namespace     string
	prometheusURL string
	interval      time.Duration
	lease         time.Duration
}

func (p *promotionFlags) register(f *pflag.FlagSet) {
	f.StringVar(&p.homeContext, "home-context", "", "kubeconfig context of the home cluster, which holds promotion state and the leader lease; enables promotions")
	f.StringVar(&p.namespace, "state-namespace", promote.DefaultNamespace, "namespace of the promotion states and the lease in the home cluster")
	f.StringVar(&p.prometheusURL, "prometheus-url", "", "Prometheus with Istio's metrics, for canary analysis (without it, every step that needs analysis holds)")
	f.DurationVar(&p.interval, "promote-interval", 15*time.Second, "how often promotions are looked at")
	f.DurationVar(&p.lease, "lease-duration", 15*time.Second, "how long a standby waits for a silent leader before taking over")
}

// promotions is the promotion side of a running daemon.
type promotions struct {
	ctrl   *promote.Controller
	client kubernetes.Interface
	flags  *promotionFlags
	log    *slog.Logger
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
	return &promotions{ctrl: ctrl, client: client, flags: p, log: log}, nil
}

// lead runs fn while this replica holds the leader lease.
func (p *promotions) lead(ctx context.Context, id string, fn func(ctx context.Context)) error {
	return promote.RunAsLeader(ctx, p.client, promote.LeaderOptions{
		Namespace:     p.flags.namespace,
		Name:          "sailplan",
		Identity:      id,
		LeaseDuration: p.flags.lease,
		Log:           p.log,
	}, fn)
}
