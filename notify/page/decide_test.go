package page

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
)

// decisionRig is a page taking decisions about promotions stored in a
// real home cluster, checking tokens with that cluster, and two
// ServiceAccounts: approver, bound to a Role with the approver's rights
// on the namespace's ConfigMaps (as deploy's sailplan-approver), and
// viewer, bound to nothing.
type decisionRig struct {
	ns               string
	store            *promote.Store
	srv              *httptest.Server
	approver, viewer string // tokens
	approverName     string
	admin            kubernetes.Interface
}

func newDecisionRig(t *testing.T) *decisionRig {
	t.Helper()
	env.Need(t)
	ctx := t.Context()
	ns := env.Namespace(t)
	admin, err := kubernetes.NewForConfig(env.Clusters[0].RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := &decisionRig{ns: ns, store: promote.NewStore(admin, ns), admin: admin, approverName: "system:serviceaccount:" + ns + ":approver"}
	_, err = admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "approver"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "update"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "approver"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "approver"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "approver", Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := func(name string) string {
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		exp := int64(3600)
		tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("token of %s: %v", name, err)
		}
		return tok.Status.Token
	}
	r.approver, r.viewer = token("approver"), token("viewer")

	// reviews waits for the approval of its step to 50 %.
	st := &promote.State{Service: "reviews", Namespace: ns, Stable: "v1", Candidate: "v2", Steps: []int{20, 50, 100}, ApprovalAt: []int{50},
		Phase: promote.WaitingForApproval, Reason: "step to 50% needs an approval",
		Waves: []promote.Wave{{Wave: 1, Step: 0, Weight: 20, Since: t0}}, Started: t0}
	if _, err := r.store.Save(ctx, st, ""); err != nil {
		t.Fatal(err)
	}
	p := &Page{Model: notify.NewModel(), Store: r.store, Auth: &Reviewer{Client: admin}, Now: func() time.Time { return t0.Add(time.Minute) }}
	mux := http.NewServeMux()
	p.Mount(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

type answer struct {
	Code    int
	Message string
	Error   string
}

// post sends a decision as the page's script does: a JSON body, the token
// in the Authorization header.
func (r *decisionRig) post(t *testing.T, decision, token, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.srv.URL+"/ui/promotions/reviews/"+decision, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{Code: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer to %s: %v", decision, err)
	}
	return a
}

// TestDecisionsNeedRBAC: the page decides only for a token the home
// cluster accepts and whose identity RBAC lets write the promotion's
// state; it records that identity, via page; and it refuses a missing,
// forged or unauthorized token, or a body a cross-site form could send,
// each saying why, without deciding anything.
func TestDecisionsNeedRBAC(t *testing.T) {
	r := newDecisionRig(t)
	const approve50 = `{"weight": 50, "candidate": "v2"}`
	// A token of the right shape, signed by no one the cluster trusts.
	forged := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2FpbHBsYW4tc3lzdGVtOnNhaWxwbGFuIn0.c2lnbmF0dXJl"
	refusals := []struct {
		name, decision, token, contentType, body string
		want                                     answer
	}{
		{"no token", "approve", "", "application/json", approve50, answer{Code: 401,
			Error: "no bearer token: the page is read-only without one; send the Authorization: Bearer header with a Kubernetes token of the home cluster"}},
		{"forged token", "approve", forged, "application/json", approve50, answer{Code: 401,
			Error: "the home cluster does not accept the bearer token (invalid bearer token): get a fresh one (kubectl create token, or log in again through the proxy)"}},
		{"token without the RBAC", "approve", r.viewer, "application/json", approve50, answer{Code: 403,
			Error: fmt.Sprintf("system:serviceaccount:%s:viewer may not get ConfigMap %s/promotion-reviews in the home cluster, which this decision needs: bind the sailplan-approver Role to them there", r.ns, r.ns)}},
		{"a form's body", "approve", r.approver, "application/x-www-form-urlencoded", "weight=50", answer{Code: 415,
			Error: "a decision is a JSON body (Content-Type: application/json), as the page sends it"}},
		{"not a decision of the page", "abort", r.approver, "application/json", approve50, answer{Code: 404,
			Error: `"abort" is not a decision the page takes (approve, reject, pause or resume)`}},
	}
	for _, c := range refusals {
		if diff := cmp.Diff(c.want, r.post(t, c.decision, c.token, c.contentType, c.body)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	st, err := r.store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != promote.WaitingForApproval || len(st.Decisions) != 0 {
		t.Fatalf("refused decisions changed the promotion: %s, %+v", st.Phase, st.Decisions)
	}

	got := r.post(t, "approve", r.approver, "application/json", approve50)
	if diff := cmp.Diff(answer{Code: 200, Message: "reviews: step to 50% approved by " + r.approverName}, got); diff != "" {
		t.Errorf("approval with the approver's token (-want +got):\n%s", diff)
	}
	st, err = r.store.Get(t.Context(), "reviews")
	if err != nil {
		t.Fatal(err)
	}
	want := []promote.Answer{{Weight: 50, Approved: true, By: r.approverName, Via: "page", At: t0.Add(time.Minute)}}
	if diff := cmp.Diff(want, st.Decisions); diff != "" || st.Phase != promote.Progressing {
		t.Errorf("stored promotion after the approval: phase %s, decisions (-want +got):\n%s", st.Phase, diff)
	}

	// A second click on the page as it stood is refused in words.
	got = r.post(t, "approve", r.approver, "application/json", approve50)
	if diff := cmp.Diff(answer{Code: 409, Error: "not applied: reviews: the step to 50% is already approved by " + r.approverName + " via page"}, got); diff != "" {
		t.Errorf("second approval (-want +got):\n%s", diff)
	}
	got = r.post(t, "pause", r.approver, "application/json", `{}`)
	if diff := cmp.Diff(answer{Code: 200, Message: "reviews: paused by " + r.approverName}, got); diff != "" {
		t.Errorf("pause (-want +got):\n%s", diff)
	}
}
