// Package notify tells people what sync and promotion did, in Slack or in the log, and takes approvals back from Slack.
package notify
