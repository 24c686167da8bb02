// Package writeback commits a promoted candidate to Git as the stable version, once, so that Git stays the source of truth.
package writeback
