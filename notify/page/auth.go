package page

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Authorizer says who a bearer token belongs to and whether they may do
// everything in access.
type Authorizer interface {
	Authorize(ctx context.Context, token string, access []authorizationv1.ResourceAttributes) (user string, err error)
}

// ErrUnauthenticated: no token, or one the home cluster does not accept.
var ErrUnauthenticated = errors.New("not authenticated")

// ErrForbidden: the token's identity may not do it.
var ErrForbidden = errors.New("forbidden")

// Reviewer asks the home cluster: a TokenReview says whose token it is,
// then a SubjectAccessReview per attribute says whether RBAC lets them.
// So the page grants exactly what the home cluster grants that identity
// through kubectl or the CLI: a ServiceAccount token, or an OIDC token
// forwarded by a proxy when the apiserver trusts that issuer. The daemon's
// own ServiceAccount needs create on tokenreviews and
// subjectaccessreviews.
type Reviewer struct {
	Client kubernetes.Interface
}

// Authorize reviews token and checks access for its identity.
func (rv *Reviewer) Authorize(ctx context.Context, token string, access []authorizationv1.ResourceAttributes) (string, error) {
	if token == "" {
		return "", fmt.Errorf("no bearer token: the page is read-only without one; send the Authorization: Bearer header with a Kubernetes token of the home cluster: %w", ErrUnauthenticated)
	}
	tr, err := rv.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("home cluster: reviewing the token: %w", err)
	}
	if !tr.Status.Authenticated {
		why := "it is not a token of the home cluster, or it expired"
		if tr.Status.Error != "" {
			why = tr.Status.Error
		}
		return "", fmt.Errorf("the home cluster does not accept the bearer token (%s): get a fresh one (kubectl create token, or log in again through the proxy): %w", why, ErrUnauthenticated)
	}
	u := tr.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	for _, a := range access {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra, ResourceAttributes: &a,
		}}
		res, err := rv.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("home cluster: checking what %s may do: %w", u.Username, err)
		}
		if !res.Status.Allowed {
			return u.Username, fmt.Errorf("%s may not %s ConfigMap %s/%s in the home cluster, which this decision needs: bind the sailplan-approver Role to them there: %w",
				u.Username, a.Verb, a.Namespace, a.Name, ErrForbidden)
		}
	}
	return u.Username, nil
}

// bearer is the token of an Authorization: Bearer header; empty for none.
func bearer(header string) string {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
