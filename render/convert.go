package render

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sailplan/sailplan/schema"
)

// duration converts an optional duration into protobuf's form, which
// Istio reads; nil is unset.
func duration(d *time.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(*d)
}

func wrapBool(b bool) *wrapperspb.BoolValue { return wrapperspb.Bool(b) }

// durationFields are the traffic-policy fields that hold durations.
var durationFields = map[string]bool{
	"connectTimeout": true, "time": true, "interval": true, "maxConnectionDuration": true,
	"idleTimeout": true, "ttl": true, "baseEjectionTime": true, "warmupDurationSecs": true, "duration": true,
}

// trafficPolicy hands a policy to Istio's own decoder, after turning
// durations into protobuf's seconds form ("90s"), which is all it reads.
func trafficPolicy(p schema.Policy) (*networkingv1alpha3.TrafficPolicy, error) {
	if len(p) == 0 {
		return nil, nil
	}
	norm, err := normalizeDurations(map[string]any(p))
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(norm)
	if err != nil {
		return nil, err
	}
	tp := &networkingv1alpha3.TrafficPolicy{}
	if err := tp.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("traffic policy: %w", err)
	}
	return tp, nil
}

func normalizeDurations(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if s, ok := e.(string); ok && durationFields[k] {
				d, err := time.ParseDuration(s)
				if err != nil {
					return nil, fmt.Errorf("%s: duration %q: %w", k, s, err)
				}
				out[k] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
				continue
			}
			n, err := normalizeDurations(e)
			if err != nil {
				return nil, fmt.Errorf("%s.%w", k, err)
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := normalizeDurations(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return v, nil
}
