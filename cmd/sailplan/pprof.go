package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves Go's profiles (/debug/pprof/) on an address of its
// own, off unless --pprof-listen is given: profiles show the daemon's
// internals and a CPU profile costs CPU, so they are for an operator's
// port-forward, never the public listener (docs/operations.md, "Profiling").
type pprofServer struct {
	Addr string
	srv  *http.Server
}

// servePprof listens on addr and serves the profiles until ctx ends.
func servePprof(ctx context.Context, addr string, log *slog.Logger) (*pprofServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	s := &pprofServer{Addr: ln.Addr().String(), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// A CPU profile or a trace takes ?seconds= (30 by default) to write.
		WriteTimeout: 2 * time.Minute,
		BaseContext:  func(net.Listener) context.Context { return ctx },
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server stopped", "listen", s.Addr, "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { s.srv.Close() })
	return s, nil
}
