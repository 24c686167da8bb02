// Package webhook receives push webhooks from GitHub, GitLab, Gitea or anything that signs with HMAC, and asks for a sync.
package webhook
