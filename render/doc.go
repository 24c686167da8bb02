// Package render turns intents into typed Istio objects; it is pure: no clients, no clocks, no I/O.
package render
