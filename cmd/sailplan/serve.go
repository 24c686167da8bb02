package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/net/netutil"
)

// The daemon's HTTP server faces strangers: whoever can reach --listen can
// open connections before any secret is checked. Everything here bounds
// what a connection that never authenticates can hold, and for how long,
// so that a flood of slow clients cannot take the file descriptors, the
// probes or the webhook away (issue 10). docs/operations.md ("The HTTP
// server") explains each value to operators.

// httpFlags are the addresses the daemon serves HTTP on.
type httpFlags struct {
	listen      string
	probeListen string
}

func (h *httpFlags) register(f *pflag.FlagSet) {
	f.StringVar(&h.listen, "listen", ":8090", "address of the HTTP server: the live page at / (docs/ui.md), /livez, /readyz, /metrics, POST /webhook with --webhook-secret-file, POST /slack/interactions with --slack-signing-secret-file")
	f.StringVar(&h.probeListen, "probe-listen", "", "address of a second HTTP server that serves only the Kubernetes probes (/livez, /readyz), out of reach of a flood of --listen; empty: the probes are on --listen only")
}

// limits bound one listener: how long a request may take to arrive and to
// be answered, and how many connections may be open, in all and per
// source.
type limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	MaxConns          int
	MaxConnsPerSource int
	// ReportEvery is the period of the one log line that counts the
	// connections refused and cut.
	ReportEvery time.Duration
}

// publicLimits are --listen's. The senders set them: GitHub and GitLab.com
// give up on a webhook delivery after 10 s, Gitea after 5 s, Slack on an
// interaction after 3 s, and they send the request at once.
var publicLimits = limits{
	// Headers come first and at once; a client that has not sent them
	// within 5 s is not a webhook sender.
	ReadHeaderTimeout: 5 * time.Second,
	// The whole request, body included, from its first byte. A delivery
	// still arriving after 10 s has been given up by its sender, so
	// waiting longer serves nobody; a trickler holds its connection at
	// most this long. A 5 MiB body (the webhook limit) fits at 4 Mbit/s,
	// a 1 MiB Slack body at 1 Mbit/s; real ones are a few KiB.
	ReadTimeout: 10 * time.Second,
	// From the end of the headers: the body (within ReadTimeout), the
	// handler (a Slack click writes the promotion state to the home
	// cluster) and the answer (/metrics is the largest).
	// It bounds a client that does not read what it asked for.
	WriteTimeout: 30 * time.Second,
	// Longer than the 60 s for which ingress-nginx and AWS load
	// balancers keep an idle upstream connection, so the proxy closes it
	// first and never sends a request on a connection being closed here.
	IdleTimeout: 75 * time.Second,
	// Deliveries carry about 2 KiB of headers; Envoy (an Istio gateway)
	// forwards at most 60 KiB by default. Go's default is 1 MiB.
	MaxHeaderBytes: 64 << 10,
	// Far above what the daemon's real clients need at once (a probe, a
	// scrape, a few deliveries), far below the file descriptors Go
	// raises RLIMIT_NOFILE to, and with one body buffered per connection
	// at most (HTTP/1.1 only), at most 64 x 5 MiB of unauthenticated
	// bodies in memory.
	MaxConns: 64,
	// One source (an IPv4 address, an IPv6 /64) holds at most an eighth
	// of the connections; its idle ones make way for its new ones, so a
	// proxy's pool of kept-alive connections never locks it out.
	MaxConnsPerSource: 8,
	ReportEvery:       time.Minute,
}

// probeLimits are --probe-listen's: the kubelet opens a connection per
// probe, a few at a time.
var probeLimits = func() limits {
	l := publicLimits
	l.MaxConns = 16
	return l
}()

// serveConfig is what serve serves.
type serveConfig struct {
	httpFlags
	// Routes are served on --listen, with the probes added. Only their
	// POST routes get a request body.
	Routes *http.ServeMux
	// Probes are GET handlers by path, such as "/healthz": served on
	// --listen, and on --probe-listen when it is given.
	Probes map[string]http.Handler
	Log    *slog.Logger
	// Public and Probe replace publicLimits and probeLimits when set
	// (tests shorten the timeouts).
	Public, Probe *limits
}

// httpServer is the daemon's HTTP side, serving.
type httpServer struct {
	// Addr and ProbeAddr are the addresses listened on, with the port
	// chosen for ":0"; ProbeAddr is empty without --probe-listen.
	Addr, ProbeAddr string

	servers   []*http.Server
	listeners []*sourceListener
}

// shutdownGrace is how long Shutdown waits for requests in flight: a
// delivery or a click is answered in milliseconds, and a trickler is not
// worth waiting for.
const shutdownGrace = 5 * time.Second

// serve starts the HTTP servers and returns once they listen, so that an
// address in use is an error at start, not a log line later. They stop
// with Shutdown.
func serve(ctx context.Context, cfg serveConfig) (*httpServer, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	routes := cfg.Routes
	if routes == nil {
		routes = http.NewServeMux()
	}
	probes := http.NewServeMux()
	for path, h := range cfg.Probes {
		routes.Handle("GET "+path, h)
		probes.Handle("GET "+path, h)
	}
	s := &httpServer{}
	if err := s.listen(ctx, "--listen", cfg.listen, routes, cmp.Or(cfg.Public, &publicLimits), log); err != nil {
		return nil, err
	}
	s.Addr = s.listeners[0].Addr().String()
	if cfg.probeListen != "" {
		if err := s.listen(ctx, "--probe-listen", cfg.probeListen, probes, cmp.Or(cfg.Probe, &probeLimits), log); err != nil {
			s.listeners[0].Close()
			return nil, err
		}
		s.ProbeAddr = s.listeners[1].Addr().String()
	}
	for i, srv := range s.servers {
		go s.listeners[i].stats.run(ctx)
		go func() {
			if err := srv.Serve(s.listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "listen", s.listeners[i].Addr().String(), "err", err)
			}
		}()
	}
	return s, nil
}

// listen binds addr (named by flag in errors) behind the limits and adds
// a server for routes, not yet serving.
func (s *httpServer) listen(ctx context.Context, flag, addr string, routes *http.ServeMux, lim *limits, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	stats := &connStats{log: log.With("listen", ln.Addr().String()), lim: lim}
	sl := &sourceListener{
		// LimitListener bounds the connections in all: past the limit,
		// Accept waits and new connections wait in the kernel's backlog,
		// holding no file descriptor of ours.
		Listener: netutil.LimitListener(ln, lim.MaxConns),
		lim:      lim,
		stats:    stats,
		open:     map[netip.Prefix]map[*trackedConn]struct{}{},
	}
	// HTTP/1.1 only: one request, so one body, per connection, which
	// the connection limits then bound. (No TLS here, so HTTP/2 would
	// only be h2c, which no sender needs.)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           withoutUnreadBodies(routes),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		Protocols:         &protocols,
		ConnState:         stats.connState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.servers = append(s.servers, srv)
	s.listeners = append(s.listeners, sl)
	return nil
}

// Shutdown stops the servers: it waits up to shutdownGrace (or until ctx
// ends) for requests in flight, then closes what is left.
func (s *httpServer) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	errs := make([]error, len(s.servers))
	var wg sync.WaitGroup
	for i, srv := range s.servers {
		wg.Go(func() {
			if errs[i] = srv.Shutdown(ctx); errs[i] != nil {
				errs[i] = errors.Join(errs[i], srv.Close())
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// withoutUnreadBodies keeps every route but POST ones from reading a
// request body, and keeps net/http from reading it for them: after a
// handler, net/http reads up to 256 KiB of a body left unread to reuse
// the connection, which a client trickling that body stretches to the
// read timeout. So a request with a body to a route that takes none
// (GET /healthz, /metrics, an unknown route or method) is answered at
// once and its connection closed, the body unread.
func withoutUnreadBodies(routes *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			if _, pattern := routes.Handler(r); !strings.HasPrefix(pattern, http.MethodPost+" ") {
				w.Header().Set("Connection", "close")
				// A deadline already past fails net/http's read of
				// what is left at once.
				_ = http.NewResponseController(w).SetReadDeadline(time.Now())
				r.Body = http.NoBody
			}
		}
		routes.ServeHTTP(w, r)
	})
}

// sourceListener refuses a connection whose source already holds
// MaxConnsPerSource open ones, so that one source cannot take every slot
// of the LimitListener under it. A refused connection is closed at
// once, before anything is read: it costs an accept and a close. netutil
// has no per-source accounting, hence this wrapper.
type sourceListener struct {
	net.Listener
	lim   *limits
	stats *connStats

	mu    sync.Mutex
	open  map[netip.Prefix]map[*trackedConn]struct{}
	total int
}

func (l *sourceListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// admit counts c against its source, or closes it when the source is at
// its limit with no idle connection to make way: an idle connection
// costs its client only a new connection, so a proxy's new connection
// beats its idle ones.
func (l *sourceListener) admit(c net.Conn) *trackedConn {
	src := sourceOf(c.RemoteAddr())
	for {
		l.mu.Lock()
		conns := l.open[src]
		if len(conns) < l.lim.MaxConnsPerSource {
			tc := &trackedConn{Conn: c, l: l, src: src}
			if conns == nil {
				conns = map[*trackedConn]struct{}{}
				l.open[src] = conns
			}
			conns[tc] = struct{}{}
			l.total++
			full := l.total >= l.lim.MaxConns
			l.mu.Unlock()
			if full {
				l.stats.limitReached()
			}
			return tc
		}
		var idle *trackedConn
		for tc := range conns {
			if tc.idle.Load() {
				idle = tc
				break
			}
		}
		l.mu.Unlock()
		if idle == nil {
			l.stats.refused(src)
			c.Close()
			return nil
		}
		// Closing it takes it out of conns.
		idle.Close()
	}
}

func (l *sourceListener) release(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open[tc.src], tc)
	if len(l.open[tc.src]) == 0 {
		delete(l.open, tc.src)
	}
	l.total--
}

// openFrom is how many connections src holds.
func (l *sourceListener) openFrom(src netip.Prefix) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open[src])
}

// openConns is how many connections are open.
func (l *sourceListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// sourceOf is whom a connection counts against: its IPv4 address, or its
// IPv6 /64, the block one host usually holds, so that such a host cannot
// take a slot per address.
func sourceOf(a net.Addr) netip.Prefix {
	var ap netip.AddrPort
	if ta, ok := a.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	} else if p, err := netip.ParseAddrPort(a.String()); err == nil {
		ap = p
	}
	ip := ap.Addr().Unmap()
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits) // an invalid address is the zero prefix: one source
	return p
}

// sourceString is a source for the log: the address alone when it is
// one.
func sourceString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// trackedConn is an admitted connection: it gives its place back when
// closed, and tells an idle connection, and one cut by a deadline, from
// others.
type trackedConn struct {
	net.Conn
	l    *sourceListener
	src  netip.Prefix
	once sync.Once
	// idle: between requests, nothing read since.
	idle atomic.Bool
	// timedOut: a read or write hit its deadline. aborting: the read
	// deadline was set in the past, which is how net/http stops its own
	// background read, and is no timeout of the client's.
	timedOut, aborting atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.idle.Store(false)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.aborting.Load() {
		c.timedOut.Store(true)
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
	}
	return n, err
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.aborting.Store(!t.IsZero() && !t.After(time.Now()))
	return c.Conn.SetReadDeadline(t)
}

// Close gives the connection's count back before the connection itself:
// closing it frees the LimitListener's slot, which lets the next Accept
// count a new connection, and the count must never say more are open than
// the LimitListener lets in.
func (c *trackedConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

// connStats counts the connections a listener refused (their source at
// its limit) and cut (a deadline passed before the request was in, or
// the answer out), and logs them in one line per period with the
// busiest sources: a flood costs a line a minute, not a line a
// connection. Only addresses and counts are logged; nothing was read.
type connStats struct {
	log *slog.Logger
	lim *limits

	mu        sync.Mutex
	refusedBy tally
	cutBy     tally
	// full counts the connections that took the last free slot.
	full int
}

// maxSourcesTallied bounds the sources remembered per period; past it,
// only the totals count.
const maxSourcesTallied = 256

// tally counts connections per source.
type tally struct {
	n  int
	by map[netip.Prefix]int
}

func (t *tally) add(src netip.Prefix) {
	t.n++
	if t.by == nil {
		t.by = map[netip.Prefix]int{}
	}
	if _, ok := t.by[src]; ok || len(t.by) < maxSourcesTallied {
		t.by[src]++
	}
}

// top names the k sources with the most connections, e.g.
// "192.0.2.7 (523), 2001:db8::/64 (4)".
func (t *tally) top(k int) string {
	srcs := slices.SortedFunc(maps.Keys(t.by), func(a, b netip.Prefix) int {
		return cmp.Or(cmp.Compare(t.by[b], t.by[a]), a.Addr().Compare(b.Addr()))
	})
	var parts []string
	for _, src := range srcs[:min(k, len(srcs))] {
		parts = append(parts, fmt.Sprintf("%s (%d)", sourceString(src), t.by[src]))
	}
	return strings.Join(parts, ", ")
}

func (s *connStats) refused(src netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusedBy.add(src)
}

func (s *connStats) limitReached() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.full++
}

// connState is the server's hook: it marks connections idle between
// requests and counts those closed by a deadline in the middle of one
// (an idle connection closed by IdleTimeout is no cut).
func (s *connStats) connState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*trackedConn)
	if !ok {
		return
	}
	switch state {
	case http.StateIdle:
		c.idle.Store(true)
	case http.StateClosed:
		if c.timedOut.Load() && !c.idle.Load() {
			s.mu.Lock()
			s.cutBy.add(c.src)
			s.mu.Unlock()
		}
	}
}

// run logs the counts once per period, and a last time when ctx ends.
func (s *connStats) run(ctx context.Context) {
	t := time.NewTicker(s.lim.ReportEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush()
			return
		case <-t.C:
			s.flush()
		}
	}
}

func (s *connStats) flush() {
	s.mu.Lock()
	refused, cut, full := s.refusedBy, s.cutBy, s.full
	s.refusedBy, s.cutBy, s.full = tally{}, tally{}, 0
	s.mu.Unlock()
	if refused.n == 0 && cut.n == 0 && full == 0 {
		return
	}
	s.log.Warn("http connections refused or cut",
		"period", s.lim.ReportEvery,
		"refused", refused.n, "refused_from", refused.top(3), "per_source_limit", s.lim.MaxConnsPerSource,
		"cut", cut.n, "cut_from", cut.top(3), "read_timeout", s.lim.ReadTimeout,
		"limit_reached", full, "limit", s.lim.MaxConns)
}
