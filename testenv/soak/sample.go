package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Sample is the daemon after one commit of a soak run.
type Sample struct {
	// Commit counts the commits pushed; 0 is the first sync of the repository.
	Commit int
	// Seconds since the daemon started.
	Seconds float64
	// ApplySeconds is how long the commit took from push to applied on every cluster.
	ApplySeconds float64
	// RSS is the daemon's resident memory once the commit was applied and
	// the daemon idled until the next one; PeakRSS the most seen from the
	// push to then (sampled every 100 ms). Both in bytes.
	RSS, PeakRSS uint64
	// HeapAlloc is what the Go heap held at the RSS sample, in bytes.
	HeapAlloc uint64
	// Goroutines at the RSS sample.
	Goroutines int
}

// ProcStatus reads fields (such as "VmRSS" and "VmHWM") of /proc/PID/status, in bytes.
func ProcStatus(pid int, fields ...string) (map[string]uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		for _, want := range fields {
			if name != want {
				continue
			}
			// "  123456 kB"
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
			}
			out[name] = kb << 10
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	for _, want := range fields {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("/proc/%d/status: no %s", pid, want)
		}
	}
	return out, nil
}

// Metrics reads the unlabelled gauges names from a Prometheus text
// exposition at url (the daemon's /metrics).
func Metrics(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	out := map[string]float64{}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), " ")
		if !ok {
			continue
		}
		for _, want := range names {
			if name == want {
				v, err := strconv.ParseFloat(value, 64)
				if err != nil {
					return nil, fmt.Errorf("GET %s: %s: %w", url, name, err)
				}
				out[name] = v
			}
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	for _, want := range names {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("GET %s: no metric %s", url, want)
		}
	}
	return out, nil
}
