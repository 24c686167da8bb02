// Package soak measures the daemon's memory over hundreds of commits to a templated repository (issue 15).
package soak
