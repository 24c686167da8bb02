package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// TestKlogWithoutCanceledWatches: client-go's errors reach sailplan's log,
// but not the ones of the watches sailplan stopped itself.
func TestKlogWithoutCanceledWatches(t *testing.T) {
	var buf bytes.Buffer
	routeKlog(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { klog.SetSlogLogger(slog.New(slog.DiscardHandler)) })
	klog.Background().Error(errors.New("client rate limiter Wait returned an error: context canceled"), "Failed to watch", "type", "virtualservices")
	klog.Background().Error(errors.New("connection refused"), "Failed to watch", "type", "destinationrules")
	klog.Flush()
	got := buf.String()
	if strings.Contains(got, "context canceled") || !strings.Contains(got, "connection refused") {
		t.Errorf("klog through sailplan's log:\n%s\nwant the refused connection and not the canceled watch", got)
	}
}
