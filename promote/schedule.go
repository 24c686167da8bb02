package promote

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sailplan/sailplan/schema"
)

// Schedule says when a canary's steps may advance: inside its window and
// outside its blackouts, in its time zone.
type Schedule struct {
	loc       *time.Location
	window    cron.Schedule // nil: always open
	blackouts []blackout
}

type blackout struct {
	start    cron.Schedule
	duration time.Duration
}

// NewSchedule parses a plan's window and blackouts. The schema has
// validated them; an error here means the plan did not come through it.
func NewSchedule(c *schema.Canary) (*Schedule, error) {
	tz := c.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("canary time zone %q: %w", tz, err)
	}
	s := &Schedule{loc: loc}
	if c.Window != "" {
		if s.window, err = schema.CronParser.Parse(c.Window); err != nil {
			return nil, fmt.Errorf("canary window %q: %w", c.Window, err)
		}
	}
	for _, b := range c.Blackouts {
		start, err := schema.CronParser.Parse(b.Start)
		if err != nil {
			return nil, fmt.Errorf("canary blackout %q: %w", b.Start, err)
		}
		s.blackouts = append(s.blackouts, blackout{start, b.Duration})
	}
	return s, nil
}

// Open reports whether steps may advance at t, and if not, why.
func (s *Schedule) Open(t time.Time) (bool, string) {
	t = t.In(s.loc)
	minute := t.Truncate(time.Minute)
	if s.window != nil && !s.window.Next(minute.Add(-time.Second)).Equal(minute) {
		return false, "outside the window"
	}
	for _, b := range s.blackouts {
		// In a blackout when one started in (t-duration, t].
		if start := b.start.Next(t.Add(-b.duration)); !start.After(t) {
			return false, fmt.Sprintf("in a blackout since %s", start.Format("2006-01-02 15:04 MST"))
		}
	}
	return true, ""
}
