package deploy

import (
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sailplan/sailplan/notify/page"
	"github.com/sailplan/sailplan/promote"
)

// TestPageReviewsTokens: with deploy/rbac, the daemon's ServiceAccount can
// ask the home cluster whose a token is and what RBAC lets them do, which
// the live page needs for decisions; here for its own token, which may
// decide (it writes the states).
func TestPageReviewsTokens(t *testing.T) {
	env.Need(t)
	ctx := t.Context()
	c := env.Clusters[0]
	admin, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := kubectl(t, nil, "apply", "--server-side", "-k", "rbac"); err != nil {
		t.Fatalf("kubectl apply --server-side -k rbac: %v\n%s%s", err, out, stderr)
	}
	tok, err := admin.CoreV1().ServiceAccounts("sailplan-system").CreateToken(ctx, "sailplan",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", writeKubeconfig(t, c, tok.Status.Token))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rv := &page.Reviewer{Client: sa}
	user, err := rv.Authorize(ctx, tok.Status.Token, promote.NewStore(sa, "").Access("reviews"))
	if want := "system:serviceaccount:sailplan-system:sailplan"; err != nil || user != want {
		t.Errorf("the ServiceAccount reviewing a token: %q, %v; want %q", user, err, want)
	}
}
