package schema

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// text prints an optional duration as intents write it; "" when unset.
func text(d *time.Duration) string {
	if d == nil {
		return ""
	}
	return formatDuration(*d)
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "0s",
		10 * time.Second:                  "10s",
		30 * time.Minute:                  "30m",
		time.Hour:                         "1h",
		62 * time.Hour:                    "62h",
		90 * time.Minute:                  "1h30m",
		90 * time.Second:                  "1m30s",
		time.Hour + 10*time.Second:        "1h0m10s",
		1500 * time.Millisecond:           "1.5s",
		500 * time.Millisecond:            "500ms",
		100 * time.Millisecond:            "100ms",
		2*time.Hour + 30*time.Millisecond: "2h0m0.03s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%d) = %q, want %q", d, got, want)
		}
	}
}

// TestDurationsDecode: every duration field arrives as a time.Duration,
// defaults included, which come from the schema alone; an explicit "0s"
// is kept apart from a field left out.
func TestDurationsDecode(t *testing.T) {
	in, err := Load(Files{"svc.cue": []byte(`package intents
services: api: {
	versions: {v1: labels: version: "v1", v2: labels: version: "v2"}
	timeout: "1.5s"
	retries: {attempts: 2, perTryTimeout: "500ms"}
	routes: [
		{match: [{uri: prefix: "/stream"}], to: v1: 100, timeout: "0s", retries: attempts: 0},
		{match: [{uri: prefix: "/slow"}], to: v1: 100, fault: delay: {percent: 10, fixedDelay: "1h30m"}, cors: {allowOrigins: ["https://x"], maxAge: "24h"}},
		{},
	]
	canary: {stable: "v1", candidate: "v2", steps: [50, 100], blackouts: [{start: "0 18 * * 5", duration: "62h"}]}
}
`)})
	if err != nil {
		t.Fatal(err)
	}
	svc := in.Services["api"]
	got := map[string]string{
		"timeout":               text(svc.Timeout),
		"perTryTimeout":         text(svc.Retries.PerTryTimeout),
		"routes[0].timeout":     text(svc.Routes[0].Timeout),
		"routes[1].timeout":     text(svc.Routes[1].Timeout),
		"routes[1].fixedDelay":  formatDuration(svc.Routes[1].Fault.Delay.FixedDelay),
		"routes[1].cors.maxAge": text(svc.Routes[1].CORS.MaxAge),
		"every":                 formatDuration(svc.Canary.Every),
		"blackouts[0].duration": formatDuration(svc.Canary.Blackouts[0].Duration),
		"latencyP99":            formatDuration(svc.Canary.Analysis.LatencyP99),
	}
	want := map[string]string{
		"timeout":               "1.5s",
		"perTryTimeout":         "500ms",
		"routes[0].timeout":     "0s",
		"routes[1].timeout":     "",
		"routes[1].fixedDelay":  "1h30m",
		"routes[1].cors.maxAge": "24h",
		"every":                 "30m", // the schema's default
		"blackouts[0].duration": "62h",
		"latencyP99":            "100ms", // the schema's default
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded durations (-want +got):\n%s", diff)
	}
}

// TestDurationOutOfRange: a duration that fits the schema's pattern but
// not time.Duration is an error at its place, before anything renders.
func TestDurationOutOfRange(t *testing.T) {
	got := loadErrors(t, `services: api: {
	versions: v1: labels: version: "v1"
	routes: [{to: v1: 100, timeout: "3000000h"}]
}
`)
	want := []string{`svc.cue:4:34: services.api.routes[0].timeout: duration "3000000h" is out of range: durations go up to 2562047h (about 292 years)`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestDurationsJSON: the JSON form is the one intents are written in, and
// it decodes back to the same values.
func TestDurationsJSON(t *testing.T) {
	zero, per := time.Duration(0), 3*time.Second
	c := Canary{Stable: "v1", Candidate: "v2", Steps: []int{100}, Every: 90 * time.Minute, TimeZone: "UTC",
		Blackouts: []Blackout{{Start: "@daily", Duration: time.Hour}}, Analysis: Analysis{LatencyP99: 250 * time.Millisecond}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"stable":"v1","candidate":"v2","steps":[100],"every":"1h30m","timeZone":"UTC","blackouts":[{"start":"@daily","duration":"1h"}],"analysis":{"successRate":0,"latencyP99":"250ms","minRequests":0,"failureLimit":0}}`
	if string(b) != want {
		t.Errorf("json.Marshal(canary) =\n%s\nwant\n%s", b, want)
	}
	var back Canary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back); diff != "" {
		t.Errorf("canary after a JSON round trip (-want +got):\n%s", diff)
	}
	r := Route{Timeout: &zero, Retries: &Retries{Attempts: 1, PerTryTimeout: &per}}
	if b, err = json.Marshal(r); err != nil || string(b) != `{"timeout":"0s","retries":{"attempts":1,"perTryTimeout":"3s"}}` {
		t.Errorf("json.Marshal(route) = %s, %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"every":"soon"}`), &back); err == nil || err.Error() != `every: time: invalid duration "soon"` {
		t.Errorf("decoding a bad duration: %v", err)
	}
}

// TestEveryDurationIsText: a struct of the intents with a duration field
// converts it from and to text; without that, CUE's decoder would reject
// every value of the field, and JSON would carry nanoseconds.
func TestEveryDurationIsText(t *testing.T) {
	unmarshaler := reflect.TypeFor[json.Unmarshaler]()
	marshaler := reflect.TypeFor[json.Marshaler]()
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == durationType {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			if f.Type == durationType || f.Type == reflect.PointerTo(durationType) {
				if !reflect.PointerTo(typ).Implements(unmarshaler) || !typ.Implements(marshaler) {
					t.Errorf("%s.%s is a duration, but %s has no UnmarshalJSON and MarshalJSON through the duration codec (duration.go)", typ.Name(), f.Name, typ.Name())
				}
				continue
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Intents]())
	if !seen[reflect.TypeFor[FaultDelay]()] {
		t.Error("the walk missed FaultDelay: it does not reach every type of the intents")
	}
}
