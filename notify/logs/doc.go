// Package logs writes the event stream to the daemon's log: one line for each thing that happened, at a level that says how much it matters.
package logs
