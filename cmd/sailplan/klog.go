package main

import (
	"context"
	"log/slog"
	"strings"

	"k8s.io/klog/v2"
)

// routeKlog sends client-go's log (klog) to sailplan's, in the same format
// and at the same level, without the errors of watches that sailplan
// itself stops: at shutdown, or when a fleet changes, every watch ends
// with "context canceled", which is not a failure anyone should read.
func routeKlog(log *slog.Logger) {
	klog.SetSlogLogger(slog.New(canceledWatches{log.Handler()}))
}

// canceledWatches drops the records whose error is a canceled context.
type canceledWatches struct{ slog.Handler }

func (h canceledWatches) Handle(ctx context.Context, r slog.Record) error {
	canceled := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && strings.Contains(a.Value.String(), context.Canceled.Error()) {
			canceled = true
			return false
		}
		return true
	})
	if canceled {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h canceledWatches) WithAttrs(attrs []slog.Attr) slog.Handler {
	return canceledWatches{h.Handler.WithAttrs(attrs)}
}

func (h canceledWatches) WithGroup(name string) slog.Handler {
	return canceledWatches{h.Handler.WithGroup(name)}
}
