package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// LeaderLabel is the label the leader keeps on its own Pod: "true" while
// it leads, "false" once it has stopped. Only the leader's sync loop and
// page are running, so a Service that selects the label sends webhooks,
// Slack clicks and the page to the replica that acts on them; a webhook
// that reached a standby would only wait for the leader's next poll.
const LeaderLabel = "sailplan.dev/leader"

// podFlagDefault is this replica's Pod as NAMESPACE/NAME, from the downward
// API's environment, or empty outside a Pod.
func podFlagDefault() string {
	ns, name := os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME")
	if ns == "" || name == "" {
		return ""
	}
	return ns + "/" + name
}

// podLabeler marks this replica's Pod as leading or not. It works through
// the client of the Lease's cluster: the cluster the replicas run in.
type podLabeler struct {
	client          kubernetes.Interface
	namespace, name string
	log             *slog.Logger
}

// newPodLabeler is nil (nothing to mark) when pod is empty.
func newPodLabeler(client kubernetes.Interface, pod string, log *slog.Logger) (*podLabeler, error) {
	if pod == "" {
		return nil, nil
	}
	ns, name, ok := strings.Cut(pod, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("--pod %q: give NAMESPACE/NAME, as the downward API's metadata.namespace and metadata.name", pod)
	}
	return &podLabeler{client: client, namespace: ns, name: name, log: log}, nil
}

// markBackoff gives a label patch about three seconds: a leader whose
// label cannot be set still leads; webhooks then wait for its poll.
var markBackoff = wait.Backoff{Steps: 4, Duration: 200 * time.Millisecond, Factor: 2}

// mark sets the label. Failures are logged, never fatal: the label only
// routes requests, the Lease decides who writes. A Pod that is gone or
// may not be patched is not retried.
func (p *podLabeler) mark(ctx context.Context, leading bool) {
	if p == nil {
		return
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, LeaderLabel, strconv.FormatBool(leading))
	final := func(err error) bool {
		return !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) && !apierrors.IsInvalid(err)
	}
	err := retry.OnError(markBackoff, final, func() error {
		_, err := p.client.CoreV1().Pods(p.namespace).Patch(ctx, p.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "sailplan"})
		return err
	})
	if err != nil {
		p.log.Warn(fmt.Sprintf("Pod/%s/%s: label %s=%t not set: %v", p.namespace, p.name, LeaderLabel, leading, err),
			"hint", "sailplan needs patch on pods in its namespace (deploy/rbac); until then webhooks and the page may reach a standby")
	}
}
