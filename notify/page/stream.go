package page

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// writeTimeout bounds each write to a stream, so that a client that
// stops reading costs a goroutine for no longer than that.
const writeTimeout = 10 * time.Second

// minGap spaces frames: a burst of events (a sync of many clusters) is
// one frame.
const minGap = 200 * time.Millisecond

// index is what the page's frame around its sections needs.
type index struct {
	Decide                     bool
	Fleet, Commits, Promotions template.HTML
}

// serveIndex serves the page as it stands: readable without scripts,
// live with them.
func (p *Page) serveIndex(w http.ResponseWriter, r *http.Request) {
	f, err := p.render()
	var b bytes.Buffer
	if err == nil {
		// The sections are the templates' own output, escaped there.
		err = templates.ExecuteTemplate(&b, "page", index{Decide: p.decides(), Fleet: template.HTML(f.Fleet), Commits: template.HTML(f.Commits), Promotions: template.HTML(f.Promotions)})
	}
	if err != nil {
		p.log().Error("page not rendered", "err", err)
		http.Error(w, "the page could not be rendered; the daemon's log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// serveEvents streams the page: a frame at once, then one whenever what
// it shows changed, and a comment when nothing did for a while, so that
// proxies keep the connection and the page can tell a quiet fleet from
// a lost connection.
func (p *Page) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The server's read timeout is for requests still arriving; this one
	// has arrived and stays open. Its write deadline is set per frame.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	wake := make(chan struct{}, 1)
	p.mu.Lock()
	p.init()
	p.subs[wake] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.subs, wake)
		p.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each frame on at once
	send := func(chunk []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send([]byte("retry: 2000\n\n")) {
		return
	}
	beat := p.Heartbeat
	if beat <= 0 {
		beat = heartbeat
	}
	ticker := time.NewTicker(beat)
	defer ticker.Stop()
	var last frame
	first := true
	wake <- struct{}{}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
			if !send([]byte(": alive\n\n")) {
				return
			}
		case <-wake:
			f, err := p.render()
			if err != nil {
				p.log().Error("page not rendered", "err", err)
				continue
			}
			if !first && f.Fleet == last.Fleet && f.Commits == last.Commits && f.Promotions == last.Promotions {
				continue
			}
			first, last = false, f
			data, err := json.Marshal(f)
			if err != nil {
				continue
			}
			if !send(fmt.Appendf(nil, "event: frame\ndata: %s\n\n", data)) {
				return
			}
			ticker.Reset(beat)
			select {
			case <-time.After(minGap):
			case <-r.Context().Done():
				return
			}
		}
	}
}
