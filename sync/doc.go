// Package sync keeps every cluster of the fleet at what the head commit of a source renders to: the reconcile loop, the fleet, and waves.
package sync
