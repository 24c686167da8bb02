package schema

import (
	"fmt"
	"strings"
)

func validateServices(in *Intents, pos posFunc) Errors {
	var errs Errors
	for _, name := range sortedKeys(in.Services) {
		svc := in.Services[name]
		for i, r := range svc.Routes {
			errs = append(errs, validateRoute(name, svc, i, r, pos)...)
		}
	}
	return errs
}

func validateRoute(name string, svc *Service, i int, r Route, pos posFunc) Errors {
	var errs Errors
	path := fmt.Sprintf("services.%s.routes[%d]", name, i)
	sum := 0
	for _, v := range sortedKeys(r.To) {
		sum += r.To[v]
		if _, ok := svc.Versions[v]; !ok {
			errs = append(errs, Error{
				Pos:  pos("services", name, "routes", i, "to", v),
				Path: path + ".to." + v,
				Msg:  fmt.Sprintf("version %q is not declared in services.%s.versions", v, name),
				Hint: "declared versions: " + strings.Join(sortedKeys(svc.Versions), ", "),
			})
		}
	}
	if sum != 100 {
		errs = append(errs, Error{
			Pos:  pos("services", name, "routes", i, "to"),
			Path: path + ".to",
			Msg:  fmt.Sprintf("weights add up to %d, want 100", sum),
			Hint: "give the versions weights in percent that add up to 100",
		})
	}
	if len(r.Match) == 0 && i < len(svc.Routes)-1 {
		errs = append(errs, Error{
			Pos:  pos("services", name, "routes", i),
			Path: path,
			Msg:  fmt.Sprintf("route without match is followed by %d more route(s), which can never be reached", len(svc.Routes)-1-i),
			Hint: "move the route without match to the end of the list: it is the default route",
		})
	}
	return errs
}
