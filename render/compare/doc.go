// Package compare says what a change to the intents does to the fleet: it
// renders two commits' intents for every cluster, pairs the objects, and
// tells which are added, changed and removed, as unified diffs and in
// words (routing by how much, canary plans, security first), for a
// pull request's preview (`sailplan diff --base --head`). Like render, it
// is pure: the commits' intents come loaded, and nothing is read or
// contacted.
package compare
