package schema

// Service is the traffic intent for one mesh service.
type Service struct {
	Namespace string             `json:"namespace"`
	Host      string             `json:"host,omitempty"`
	Versions  map[string]Version `json:"versions"`
	Routes    []Route            `json:"routes"`
}

// Version is a set of pods of a service, rendered as a DestinationRule subset.
type Version struct {
	Labels map[string]string `json:"labels"`
}

// Route is one HTTP route of a service.
type Route struct {
	Name  string         `json:"name,omitempty"`
	Match []Match        `json:"match,omitempty"`
	To    map[string]int `json:"to"`
}

// Match is one alternative of a route's match; all its conditions must hold.
type Match struct {
	URI     *StringMatch           `json:"uri,omitempty"`
	Headers map[string]StringMatch `json:"headers,omitempty"`
	Method  *StringMatch           `json:"method,omitempty"`
}

// StringMatch holds exactly one of its fields.
type StringMatch struct {
	Exact  *string `json:"exact,omitempty"`
	Prefix *string `json:"prefix,omitempty"`
	Regex  *string `json:"regex,omitempty"`
}
