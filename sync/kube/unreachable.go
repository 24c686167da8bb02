package kube

import (
	"errors"
	"io"
	"net"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// unreachableError marks an error that says a cluster could not be
// reached, as opposed to one that the cluster answered with. An
// unreachable cluster does not fail its wave: it is retried with backoff
// and caught up when it answers again.
type unreachableError struct{ error }

func (e unreachableError) Unwrap() error { return e.error }

// Unreachable marks err as coming from not reaching the cluster, for
// errors whose cause no longer shows it (a watch that never listed, a
// probe that timed out). nil stays nil.
func Unreachable(err error) error {
	if err == nil {
		return nil
	}
	var u unreachableError
	if errors.As(err, &u) {
		return err
	}
	return unreachableError{err}
}

// IsUnreachable says whether err comes from not reaching the cluster:
// marked by Unreachable, a transport error, or an apiserver that is up
// but cannot serve (503, 429, timeouts).
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var u unreachableError
	var ne net.Error
	switch {
	case errors.As(err, &u), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
}
