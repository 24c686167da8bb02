// Package deploy holds the manifests that run sailplan in a cluster; its
// test proves that the RBAC they grant is enough, and no more.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/logs"
	"github.com/sailplan/sailplan/notify/status"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/source"
	"github.com/sailplan/sailplan/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 1, &env) }

// TestLeastPrivilege applies rbac/ (the namespace and rbac.yaml, which the
// base includes and every fleet cluster gets) with `kubectl apply -k`,
// then runs sailplan as its
// ServiceAccount (a token from the TokenRequest API, as in a pod): it
// applies several Istio kinds, prunes one, keeps promotion state and
// leads; and it is refused what it has no business with.
func TestLeastPrivilege(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	c := env.Clusters[0]
	admin, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	applyRBAC(t)
	ns := env.Namespace(t)
	account := asServiceAccount(t, c, admin, "sailplan")
	kubeconfig, sa := account.kubeconfig, account.client

	// Sync: a service, a gateway and mTLS, then the gateway removed.
	srv := testenv.NewGitServer(t)
	repo := srv.NewRepo(t, "intents")
	intents := func(withGateway bool) string {
		gw := ""
		if withGateway {
			gw = fmt.Sprintf(`gateways: edge: {namespace: %q, selector: istio: "ingressgateway", https: {hosts: ["shop.example.com"], credentialName: "shop-tls"}}`, ns)
		}
		return fmt.Sprintf(`package intents
fleet: clusters: c1: {}
%s
mtls: strict: {namespace: %q, mode: "STRICT"}
services: reviews: {
	namespace: %q
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	routes: [{}]
	canary: {stable: "v1", candidate: "v2", steps: [50, 100], every: "1s"}
}
`, gw, ns, ns)
	}
	repo.Commit(t, map[string]string{"intents.cue": intents(true)}, "three kinds")
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	// Wired as the daemon is: sync and promotion on a bus, with the status
	// kept in the cluster.
	bus, model := notify.NewBus(), notify.NewModel()
	writer := &status.Writer{Place: &status.Place{Kubeconfig: kubeconfig, Namespace: "sailplan-system", Name: status.NamePlace("sailplan"), Timeout: 5 * time.Second},
		Model: model, By: "test", Log: log}
	// The first step waits for the plan's every; the test moves the clock.
	clock := testenv.NewClock(time.Now())
	ctrl := &promote.Controller{Store: promote.NewStore(sa, ""), Analyzer: passing{}, Log: log, Events: bus, Now: clock.Now}
	r := &sync.Reconciler{Source: &source.GitSource{URL: repo.URL(), Branch: "main"}, Kubeconfig: kubeconfig, Events: bus}
	for _, h := range []notify.Handler{model, logs.New(log), writer, r, ctrl} {
		bus.Subscribe(h)
	}
	t.Cleanup(r.Close)
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync as the ServiceAccount: %v\n%s", err, logBuf.String())
	}
	if retry := writer.Write(ctx); retry != 0 {
		t.Fatalf("the ServiceAccount could not write the status:\n%s", logBuf.String())
	}
	repo.Commit(t, map[string]string{"intents.cue": intents(false)}, "gateway removed")
	if err := r.Sync(ctx); err != nil {
		t.Fatalf("sync with a prune as the ServiceAccount: %v\n%s", err, logBuf.String())
	}
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	gws, err := dyn.Resource(gvr("networking.istio.io", "v1", "gateways")).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(gws.Items) != 0 {
		t.Errorf("the removed gateway was not pruned: %d left, %v", len(gws.Items), err)
	}

	// Promotion state and the leader lease, in the home cluster.
	for i := 0; i < 2; i++ {
		clock.Tick(2 * time.Second)
		if _, err := ctrl.Step(ctx); err != nil {
			t.Fatalf("promotion step as the ServiceAccount: %v", err)
		}
	}
	if st, err := ctrl.Store.Get(ctx, "reviews"); err != nil || st == nil || st.Waves[0].Weight != 50 {
		t.Fatalf("promotion state as the ServiceAccount: %+v, %v", st, err)
	}
	leadCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	led := false
	promote.RunAsLeader(leadCtx, sa, promote.LeaderOptions{Namespace: "sailplan-system", Name: "sailplan", Identity: "test", LeaseDuration: 3 * time.Second}, func(context.Context) {
		led = true
		stop()
	})
	if !led {
		t.Error("the ServiceAccount could not take the leader lease")
	}
	// The leader labels its own Pod, in sailplan-system only, and may do
	// nothing else to Pods.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sailplan-0"}, Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "sailplan", Image: "sailplan", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
	}}
	for _, where := range []string{"sailplan-system", ns} {
		if _, err := admin.CoreV1().Pods(where).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	label := []byte(`{"metadata":{"labels":{"sailplan.dev/leader":"true"}}}`)
	if _, err := sa.CoreV1().Pods("sailplan-system").Patch(ctx, "sailplan-0", types.MergePatchType, label, metav1.PatchOptions{}); err != nil {
		t.Errorf("the ServiceAccount could not label its Pod: %v", err)
	}
	if _, err := sa.CoreV1().Pods(ns).Patch(ctx, "sailplan-0", types.MergePatchType, label, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("labelling a Pod outside sailplan-system: %v, want forbidden", err)
	}
	if err := sa.CoreV1().Pods("sailplan-system").Delete(ctx, "sailplan-0", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a Pod: %v, want forbidden", err)
	}

	// Someone bound to sailplan-viewer reads the status, and nothing else.
	if _, err := admin.CoreV1().ServiceAccounts("sailplan-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "viewer"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_, err = admin.RbacV1().RoleBindings("sailplan-system").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "sailplan-viewer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "viewer", Namespace: "sailplan-system"}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	view := asServiceAccount(t, c, admin, "viewer")
	viewer := &status.Place{Kubeconfig: view.kubeconfig, Namespace: "sailplan-system", Name: status.NamePlace("sailplan"), Timeout: 5 * time.Second}
	if copies := viewer.Read(ctx, []string{"c1"}); copies[0].Err != nil || !copies[0].Found || copies[0].Record.Status.Head == "" {
		t.Errorf("the viewer could not read the status: %+v", copies[0])
	}
	vc := view.client
	if _, err := vc.CoreV1().ConfigMaps("sailplan-system").Get(ctx, "promotion-reviews", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the viewer reading a promotion state: %v, want forbidden", err)
	}

	// And no more than that.
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets: %v, want forbidden", err)
	}
	if _, err := sa.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing Deployments: %v, want forbidden", err)
	}
	if _, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing ConfigMaps outside sailplan-system: %v, want forbidden", err)
	}
}

type passing struct{}

func (passing) Analyze(context.Context, promote.Target, schema.Analysis) promote.Analysis {
	return promote.Analysis{Verdict: promote.Pass, Summary: "test"}
}

func ptr[T any](v T) *T { return &v }

// serviceAccount is a ServiceAccount of sailplan-system as a client sees
// it: a token from the TokenRequest API (as a pod gets one), a kubeconfig
// that authenticates with it, and a client.
type serviceAccount struct {
	token, kubeconfig string
	client            *kubernetes.Clientset
}

// asServiceAccount is the ServiceAccount name of sailplan-system in c.
func asServiceAccount(t *testing.T, c *testenv.Cluster, admin kubernetes.Interface, name string) serviceAccount {
	t.Helper()
	tok, err := admin.CoreV1().ServiceAccounts("sailplan-system").CreateToken(t.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for the ServiceAccount %s: %v", name, err)
	}
	sa := serviceAccount{token: tok.Status.Token, kubeconfig: writeKubeconfig(t, c, tok.Status.Token)}
	cfg, err := clientcmd.BuildConfigFromFlags("", sa.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if sa.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return sa
}

// applyRBAC applies rbac/ as an operator installs it in each fleet cluster.
func applyRBAC(t *testing.T) {
	t.Helper()
	if out, stderr, err := kubectl(t, nil, "apply", "--server-side", "-k", "rbac"); err != nil {
		t.Fatalf("kubectl apply --server-side -k rbac: %v\n%s%s", err, out, stderr)
	}
}

// writeKubeconfig writes a kubeconfig with one context, c1, that
// authenticates with token.
func writeKubeconfig(t *testing.T, c *testenv.Cluster, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c1"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["c1"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["c1"] = &clientcmdapi.Context{Cluster: "c1", AuthInfo: "c1"}
	cfg.CurrentContext = "c1"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func gvr(group, version, resource string) k8sschema.GroupVersionResource {
	return k8sschema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}
