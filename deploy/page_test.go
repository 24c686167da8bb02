package deploy

import (
	"testing"

	"k8s.io/client-go/kubernetes"

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
	applyRBAC(t)
	account := asServiceAccount(t, c, admin, "sailplan")
	sa := account.client
	rv := &page.Reviewer{Client: sa}
	user, err := rv.Authorize(ctx, account.token, promote.NewStore(sa, "").Access("reviews"))
	if want := "system:serviceaccount:sailplan-system:sailplan"; err != nil || user != want {
		t.Errorf("the ServiceAccount reviewing a token: %q, %v; want %q", user, err, want)
	}
}
