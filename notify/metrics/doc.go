// Package metrics counts what the event stream says for Prometheus, on the daemon's /metrics.
package metrics
