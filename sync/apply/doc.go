// Package apply brings one cluster to the objects rendered for it: server-side apply from watch caches, the ApplySet inventory and its pruning, drift correction, dry-run diffs and the status recorded in the cluster.
package apply
