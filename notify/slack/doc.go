// Package slack tells Slack what the event stream says (commits applied or rejected, each promotion in a message of its own with its transitions and decisions in the thread) and takes approvals back from its buttons through promote.Decide.
package slack
