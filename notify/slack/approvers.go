package slack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
)

// Approvers decides whether a Slack user may decide a promotion. User
// group members come from usergroups.users.list and are cached, so that a
// click costs no extra call while the cache is fresh.
type Approvers struct {
	api *slackapi.Client
	ttl time.Duration

	mu     sync.Mutex
	groups map[string]group
}

type group struct {
	members []string
	fetched time.Time
}

// groupTTL bounds how long someone removed from a group can still decide.
const groupTTL = 5 * time.Minute

// NewApprovers resolves user groups with api.
func NewApprovers(api *slackapi.Client) *Approvers {
	return &Approvers{api: api, ttl: groupTTL, groups: map[string]group{}}
}

// Allowed reports whether user may decide, given the promotion's
// approvers: anyone when the intent names none (everyone who can click in
// the channel), else a user named or a member of a group named. An error
// looking up a group is returned and means no: the check fails closed,
// as it does on nil Approvers, which cannot look groups up.
func (a *Approvers) Allowed(ctx context.Context, approvers []string, user string) (bool, error) {
	if len(approvers) == 0 {
		return true, nil
	}
	if user == "" {
		return false, nil
	}
	if slices.Contains(approvers, user) {
		return true, nil
	}
	var errs []string
	for _, id := range approvers {
		if !strings.HasPrefix(id, "S") {
			continue
		}
		members, err := a.members(ctx, id)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	if len(errs) > 0 {
		return false, fmt.Errorf("approvers: %s", strings.Join(errs, "; "))
	}
	return false, nil
}

func (a *Approvers) members(ctx context.Context, id string) ([]string, error) {
	if a == nil || a.api == nil {
		return nil, fmt.Errorf("user group %s: no Slack client to look it up", id)
	}
	a.mu.Lock()
	g, ok := a.groups[id]
	a.mu.Unlock()
	if ok && time.Since(g.fetched) < a.ttl {
		return g.members, nil
	}
	members, err := a.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("user group %s: %w", id, err)
	}
	a.mu.Lock()
	a.groups[id] = group{members: members, fetched: time.Now()}
	a.mu.Unlock()
	return members, nil
}
