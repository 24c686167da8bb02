package main

import (
	"log/slog"
	"net/http"

	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify/page"
	"github.com/sailplan/sailplan/promote"
)

// mountPage serves the live page (docs/ui.md) on mux and subscribes it to
// the event stream. It takes decisions when promotions are on (home and
// store set), for callers the home cluster's RBAC allows; else it is
// read-only.
func mountPage(mux *http.ServeMux, ev *events, home kubernetes.Interface, store *promote.Store, log *slog.Logger) *page.Page {
	pg := &page.Page{Model: ev.model, Log: log}
	if home != nil && store != nil {
		pg.Store, pg.Auth = store, &page.Reviewer{Client: home}
	}
	ev.bus.Subscribe(pg)
	pg.Mount(mux)
	return pg
}
