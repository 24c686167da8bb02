package kube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestIsUnreachable(t *testing.T) {
	vs := schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{Unreachable(errors.New("watches did not list")), true},
		{fmt.Errorf("cluster c1: %w", Unreachable(errors.New("x"))), true},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Err: errors.New("no route")}, true},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewTimeoutError("slow", 1), true},
		{apierrors.NewConflict(vs, "reviews", errors.New("owned")), false},
		{apierrors.NewNotFound(vs, "reviews"), false},
	} {
		if got := IsUnreachable(tc.err); got != tc.want {
			t.Errorf("IsUnreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if Unreachable(nil) != nil {
		t.Error("Unreachable(nil) is not nil")
	}
	once := Unreachable(errors.New("x"))
	if Unreachable(once) != once {
		t.Error("Unreachable wraps a marked error again")
	}
}
