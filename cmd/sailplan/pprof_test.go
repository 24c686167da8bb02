package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// TestPprofServesHeapAndGoroutines: an operator's go tool pprof reads the
// heap (a gzipped protobuf) and the goroutines from --pprof-listen.
func TestPprofServesHeapAndGoroutines(t *testing.T) {
	s, err := servePprof(t.Context(), "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/goroutine"} {
		resp, err := http.Get("http://" + s.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
		}
		if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
			t.Errorf("GET %s: not a gzipped profile: %v", path, err)
		}
	}
}

// TestPprofNotOnTheListener: without --pprof-listen, the daemon's public
// routes have no profiles.
func TestPprofNotOnTheListener(t *testing.T) {
	s, err := serve(t.Context(), serveConfig{httpFlags: httpFlags{listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	resp, err := http.Get("http://" + s.Addr + "/debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/heap on --listen: %s, want 404 Not Found", resp.Status)
	}
}
