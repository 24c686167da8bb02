// Package source reads intents from Git: a branch, a tag or a pinned commit, over HTTPS or SSH, optionally only from commits signed by trusted OpenPGP keys.
package source
