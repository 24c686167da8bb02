// Package apply brings one cluster to the objects rendered for it: server-side apply from watch caches, the ApplySet inventory and its pruning, drift correction and dry-run diffs.
package apply
