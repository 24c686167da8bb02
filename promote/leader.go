package promote

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/sailplan/sailplan/sync/kube"
)

// LeaderOptions configure leader election among sailplan replicas.
type LeaderOptions struct {
	// Namespace and Name locate the Lease in the home cluster.
	Namespace, Name string
	// Identity names this replica (the pod name, or host and PID).
	Identity string
	// LeaseDuration is how long a lease holds without renewal: a standby
	// takes over at most this long after the leader stopped renewing.
	LeaseDuration time.Duration
	Log           *slog.Logger
}

// RunAsLeader runs lead while this replica holds the Lease, and returns
// when ctx ends. A replica that loses the lease stops leading at once (its
// lead context is cancelled) and goes back to waiting; the state it acted
// on is in the store, so the next leader carries on from there.
func RunAsLeader(ctx context.Context, client kubernetes.Interface, o LeaderOptions, lead func(ctx context.Context)) error {
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 15 * time.Second
	}
	// The lease's namespace is sailplan's own; without it no replica
	// could ever lead. Where RBAC forbids creating it, the deploy
	// manifests do.
	if err := kube.EnsureNamespace(ctx, client.CoreV1(), o.Namespace); err != nil && !apierrors.IsForbidden(err) {
		return fmt.Errorf("lease %s/%s: namespace: %w", o.Namespace, o.Name, err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   o.LeaseDuration,
			RenewDeadline:   o.LeaseDuration * 2 / 3,
			RetryPeriod:     o.LeaseDuration / 6,
			ReleaseOnCancel: true,
			Name:            o.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					if o.Log != nil {
						o.Log.Info("leading", "identity", o.Identity, "lease", o.Namespace+"/"+o.Name)
					}
					lead(ctx)
				},
				OnStoppedLeading: func() {
					if o.Log != nil {
						o.Log.Info("not leading", "identity", o.Identity)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("lease %s/%s: %w", o.Namespace, o.Name, err)
		}
		le.Run(ctx) // returns when leadership is lost or ctx ends
	}
	return nil
}
