package page

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema"
)

//go:embed assets
var assets embed.FS

// Limits that keep what the page remembers small.
const (
	// maxEntries is how many timeline entries a promotion keeps.
	maxEntries = 100
	// maxIntents is how many commits' intents are kept, to show what
	// clusters still on an older commit serve.
	maxIntents = 4
	// heartbeat is how often an idle stream says it is alive, well
	// under the 60 s after which proxies drop idle connections.
	heartbeat = 15 * time.Second
)

// Page is the live page: a consumer of the event stream (subscribe it
// after the model) that serves what the model holds, as HTML, and
// streams it again whenever it changes. Without Store and Auth it is
// read-only.
type Page struct {
	Model *notify.Model
	// Store takes decisions; nil: the page offers none.
	Store *promote.Store
	// Auth says who sent a token and whether RBAC lets them decide.
	Auth Authorizer
	Log  *slog.Logger
	// Now is the clock of decisions; time.Now when nil.
	Now func() time.Time
	// Heartbeat replaces heartbeat when set (tests shorten it).
	Heartbeat time.Duration

	mu        sync.Mutex
	seq       uint64
	timelines map[string][]entry
	intents   []commitIntents
	summary   string
	subs      map[chan struct{}]struct{}
	cached    *frame
}

// commitIntents are the intents of one commit, to tell what each
// cluster serves.
type commitIntents struct {
	hash    string
	intents *schema.Intents
}

// entry is one line of a promotion's timeline.
type entry struct {
	At      time.Time
	Kind    string // started, stepped, waiting, holding, decided, rolledback, promoted, amended
	Wave    int
	Weight  int
	Message string
	By, Via string
}

// Who names who caused the entry, unless its message already does.
func (e entry) Who() string {
	if e.By == "" || strings.Contains(e.Message, e.By) {
		return ""
	}
	return e.By
}

// Handle folds an event into what the page shows besides the model (the
// timelines, the intents of recent commits) and wakes the streams. It
// never blocks.
func (p *Page) Handle(e notify.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	switch e := e.(type) {
	case notify.CommitApplying:
		if e.Intents != nil {
			p.intents = slices.Insert(p.intents, 0, commitIntents{e.Commit.Hash, e.Intents})
			p.intents = p.intents[:min(len(p.intents), maxIntents)]
		}
	case notify.PromotionEvent:
		p.record(e)
	}
	if s := describe(e); s != "" {
		p.summary = s
	}
	p.seq++
	for c := range p.subs {
		select {
		case c <- struct{}{}:
		default: // already woken
		}
	}
}

func (p *Page) init() {
	if p.timelines == nil {
		p.timelines = map[string][]entry{}
		p.subs = map[chan struct{}]struct{}{}
	}
}

// record adds a promotion event to its service's timeline; a new
// candidate starts a new one.
func (p *Page) record(e notify.PromotionEvent) {
	svc := e.Current().Service
	en := entry{At: e.When()}
	switch e := e.(type) {
	case notify.PromotionStarted:
		p.timelines[svc] = nil
		en.Kind, en.Message = "started", "started "+e.Promotion.Candidate+" at 0%"
	case notify.PromotionStepped:
		en.Kind, en.Wave, en.Weight = "stepped", e.Wave, e.Weight
	case notify.ApprovalWaiting:
		en.Kind, en.Wave, en.Weight, en.Message = "waiting", e.Wave, e.Weight, e.Promotion.Reason
	case notify.PromotionHolding:
		en.Kind, en.Message = "holding", e.Reason
	case notify.PromotionDecided:
		en.Kind, en.Weight, en.Message, en.By, en.Via = "decided", e.Weight, e.Message, e.By, e.Via
	case notify.PromotionRolledBack:
		en.Kind, en.Message, en.By = "rolledback", e.Reason, e.By
	case notify.PromotionPromoted:
		en.Kind, en.Message = "promoted", e.Promotion.Reason
	case notify.PromotionAmended:
		en.Kind, en.Message, en.By, en.Via = "amended", e.Message, e.By, e.Via
	default:
		return
	}
	tl := append(p.timelines[svc], en)
	if len(tl) > maxEntries {
		tl = tl[len(tl)-maxEntries:]
	}
	p.timelines[svc] = tl
}

// Mount adds the page's routes to mux: the page at /, its assets, its
// stream, and the decisions.
func (p *Page) Mount(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /{$}", secure(http.HandlerFunc(p.serveIndex)))
	mux.Handle("GET /ui/static/", secure(http.StripPrefix("/ui/static/", http.FileServerFS(static))))
	mux.Handle("GET /ui/events", secure(http.HandlerFunc(p.serveEvents)))
	mux.Handle("POST /ui/promotions/{service}/{decision}", secure(http.HandlerFunc(p.serveDecision)))
}

// secure sets the headers that keep the page from being framed (a
// hidden Approve button under a decoy), from running scripts it did not
// serve, and from leaking its address.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (p *Page) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *Page) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
