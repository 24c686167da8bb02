// Package metrics serves what the event stream says to Prometheus, on the daemon's /metrics: counters and histograms
// of syncs, commits, deliveries and analyses, and gauges of what the clusters hold and where each promotion stands.
// docs/operations.md#metrics lists every family.
package metrics
