// Package promote walks canaries through their plan's steps across the fleet, gated by schedule, analysis and approvals; it changes only promotion state.
package promote
