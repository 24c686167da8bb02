package promote

import (
	"testing"
	"time"

	"github.com/sailplan/sailplan/schema"
)

func TestScheduleOpen(t *testing.T) {
	s, err := NewSchedule(&schema.Canary{
		Window:    "* 9-17 * * 1-5",
		TimeZone:  "Europe/Berlin",
		Blackouts: []schema.Blackout{{Start: "0 12 * * 3", Duration: 90 * time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		at   time.Time
		open bool
		why  string
	}{
		{at("2026-11-23 09:00"), true, ""},                          // Monday, first minute
		{at("2026-11-23 17:59"), true, ""},                          // last minute of the window
		{at("2026-11-23 18:00"), false, "outside the window"},       // after it
		{at("2026-11-22 10:00"), false, "outside the window"},       // Sunday
		{at("2026-11-23 08:00").UTC(), false, "outside the window"}, // 07:00 UTC is 08:00 in Berlin
		{at("2026-11-25 12:30"), false, "in a blackout since 2026-11-25 12:00 CET"},
		{at("2026-11-25 13:29"), false, "in a blackout since 2026-11-25 12:00 CET"},
		{at("2026-11-25 13:30"), true, ""}, // 90 minutes later it is over
	}
	for _, tt := range tests {
		open, why := s.Open(tt.at)
		if open != tt.open || why != tt.why {
			t.Errorf("Open(%s) = %v %q, want %v %q", tt.at, open, why, tt.open, tt.why)
		}
	}
	always, err := NewSchedule(&schema.Canary{})
	if err != nil {
		t.Fatal(err)
	}
	if open, _ := always.Open(at("2026-11-22 03:00")); !open {
		t.Error("a plan without window is closed at night, want always open")
	}
}
