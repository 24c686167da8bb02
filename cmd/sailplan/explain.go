package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sailplan/sailplan/render/explain"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/schema/bounded"
)

// explainFlags are the request and the claims a CI check makes about it.
type explainFlags struct {
	req                                  explain.Request
	headers, query, sourceLabels, wlabel []string
	jwtClaims                            string
	clusters                             []string
	output                               string
	expect                               string
	expectDest                           []string
	canaries                             []string
	live                                 liveFlags
	limits                               bounded.Limits
}

// explainOutput is what `sailplan explain -o json` prints.
type explainOutput struct {
	Clusters     []*explain.Explanation `json:"clusters"`
	Expectations []explain.Expectation  `json:"expectations,omitempty"`
	// OK is the exit status's verdict: every expectation holds.
	OK bool `json:"ok"`
}

func newExplainCmd() *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:         "explain [DIR | --live --repo URL] --host HOST [--path P] [--method M] [--header k=v]... [--gateway NS/NAME | --from-namespace NS | --from-principal P]",
		Annotations: oneShot(),
		Short:       "Say where a request goes in each cluster, and why: route, destinations, policy, authorization",
		Long: `explain renders the intents in DIR (default: the current directory) for every
cluster of the fleet (or those --cluster names) and follows a request through them
as Istio would: the VirtualService and route that take it (and the routes before it
that do not, with the condition that failed), its destinations and their weights
(with the canary's current step, from --canary or --promotions-context), timeout,
retries, fault injection, mirroring, the DestinationRule policy for each
destination, and the authorization verdict of the gateway and of every
destination's pods (CUSTOM, then DENY, then ALLOW), including whether a JWT is
required. docs/explain.md lists the rules it follows. What cannot be known offline
(pod labels, client addresses) is said to be unknown, and the assumptions it makes
are printed. With --live, each cluster is explained at the commit it holds now, read
from the status sailplan keeps in it, with the intents of that commit from --repo.

Exit status: 0 when every --expect and --expect-destination holds in every
cluster explained (or none is given); 1 when one fails; 2 on bad input.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				if f.live.live {
					return &exitError{code: 2, err: fmt.Errorf("%s and --live: give a directory of intents or --live, not both", args[0])}
				}
				dir = args[0]
			}
			return runExplain(cmd.Context(), cmd.OutOrStdout(), dir, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.req.Host, "host", "", "the request's host (authority), optionally with :PORT (required)")
	fl.IntVar(&f.req.Port, "port", 0, "the port the request is sent to (default: the gateway server's for the host, or the service's)")
	fl.StringVar(&f.req.Path, "path", "/", "the request's path, optionally with ?query")
	fl.StringVar(&f.req.Method, "method", "GET", "the request's method")
	fl.StringArrayVar(&f.headers, "header", nil, "a request header as NAME=VALUE (repeatable)")
	fl.StringArrayVar(&f.query, "query", nil, "a query parameter as NAME=VALUE (repeatable)")
	fl.StringVar(&f.req.Gateway, "gateway", "", "the request comes from outside the mesh through this Gateway: NAMESPACE/NAME, or the gateway intent's name")
	fl.StringVar(&f.req.FromNamespace, "from-namespace", "", "the request comes from a pod of this namespace (default: default)")
	fl.StringVar(&f.req.Principal, "from-principal", "", "the client's mTLS identity, cluster.local/ns/NS/sa/SA (default: NS's default service account)")
	fl.StringArrayVar(&f.sourceLabels, "source-label", nil, "a label of the client's pods, NAME=VALUE (repeatable), for sourceLabels matches")
	fl.StringVar(&f.req.SourceIP, "source-ip", "", "the client's IP address, for ipBlocks and remoteIpBlocks")
	fl.StringArrayVar(&f.wlabel, "workload-label", nil, "a label of the destination's pods besides its subset's, NAME=VALUE (repeatable); given, the pods carry exactly these")
	fl.StringVar(&f.jwtClaims, "jwt", "", `the payload of a valid token the request carries, as JSON ({"iss":...,"sub":...}); "invalid" for a token that fails validation`)
	fl.StringArrayVar(&f.clusters, "cluster", nil, "explain for this fleet cluster only (repeatable; default: every cluster)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.StringVar(&f.expect, "expect", "", "exit 1 unless the request is allowed (allow) or denied (deny) in every cluster")
	fl.StringArrayVar(&f.expectDest, "expect-destination", nil, "exit 1 unless SERVICE[:SUBSET] gets the whole request (or =PERCENT of it) in every cluster (repeatable)")
	fl.StringArrayVar(&f.canaries, "canary", nil, "a promotion's current weight, SERVICE=PERCENT, in every cluster explained (repeatable)")
	f.live.addFlags(fl)
	bounded.AddFlags(fl, &f.limits)
	return cmd
}

// runExplain explains the request in every cluster asked for and checks
// the expectations. Bad input is exit 2, a failed expectation exit 1.
func runExplain(ctx context.Context, w io.Writer, dir string, f *explainFlags) error {
	bad := func(err error) error { return &exitError{code: 2, err: err} }
	if f.req.Host == "" {
		return bad(errors.New("--host is required: the host the client sends, e.g. --host reviews or --host api.example.com"))
	}
	if f.output != "text" && f.output != "json" {
		return bad(fmt.Errorf("--output %q: want text or json", f.output))
	}
	var want explain.Decision
	if f.expect != "" {
		d, err := explain.ParseDecision(f.expect)
		if err != nil {
			return bad(fmt.Errorf("--expect: %w", err))
		}
		want = d
	}
	var claims []explain.DestinationClaim
	for _, s := range f.expectDest {
		c, err := explain.ParseDestinationClaim(s)
		if err != nil {
			return bad(fmt.Errorf("--expect-destination: %w", err))
		}
		claims = append(claims, c)
	}
	if err := f.fillRequest(); err != nil {
		return bad(err)
	}
	clusters, sources, err := f.intents(ctx, dir)
	if err != nil {
		return bad(err)
	}
	canaries, err := f.canaryWeights(ctx, sources, clusters)
	if err != nil {
		return bad(err)
	}
	out := explainOutput{OK: true}
	for _, cl := range clusters {
		src := sources[cl]
		req := f.req
		if err := resolveGateway(src.in, &req); err != nil {
			return bad(err)
		}
		ex, err := explain.Explain(explain.Input{Intents: src.in, Cluster: cl, Canaries: canaries[cl]}, req)
		if err != nil {
			return bad(err)
		}
		ex.Commit = src.commit
		out.Clusters = append(out.Clusters, ex)
		if want != "" {
			out.Expectations = append(out.Expectations, ex.ExpectDecision(want))
		}
		for _, c := range claims {
			out.Expectations = append(out.Expectations, ex.ExpectDestination(c))
		}
	}
	for _, x := range out.Expectations {
		out.OK = out.OK && x.Held
	}
	if err := writeExplain(w, f.output, out); err != nil {
		return err
	}
	if !out.OK {
		return &exitError{code: 1}
	}
	return nil
}

func writeExplain(w io.Writer, format string, out explainOutput) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for i, ex := range out.Clusters {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := ex.WriteText(w); err != nil {
			return err
		}
	}
	if len(out.Expectations) > 0 {
		fmt.Fprintln(w)
	}
	for _, x := range out.Expectations {
		mark := "holds"
		if !x.Held {
			mark = "FAILS"
		}
		where := "cluster " + x.Cluster
		if x.Cluster == "" {
			where = "every cluster"
		}
		if _, err := fmt.Fprintf(w, "expect %s: %s in %s: %s\n", x.Expect, mark, where, x.Why); err != nil {
			return err
		}
	}
	return nil
}

// fillRequest reads the flags that need parsing into the request.
func (f *explainFlags) fillRequest() error {
	var err error
	if f.req.Headers, err = pairs("--header", "x-canary=true", f.headers, true); err != nil {
		return err
	}
	if f.req.Query, err = pairs("--query", "page=2", f.query, false); err != nil {
		return err
	}
	if f.req.SourceLabels, err = labels("--source-label", f.sourceLabels); err != nil {
		return err
	}
	if f.req.WorkloadLabels, err = labels("--workload-label", f.wlabel); err != nil {
		return err
	}
	switch f.jwtClaims {
	case "":
	case "invalid":
		f.req.InvalidJWT = true
	default:
		if err := json.Unmarshal([]byte(f.jwtClaims), &f.req.JWT); err != nil {
			return fmt.Errorf(`--jwt %q: want the token's payload as a JSON object, e.g. {"iss":"https://auth.example.com","sub":"alice"}, or "invalid": %w`, f.jwtClaims, err)
		}
	}
	return nil
}

// pairs reads repeated NAME=VALUE flags; a header may be written
// "NAME: VALUE" too, as curl takes it.
func pairs(flag, example string, in []string, header bool) (map[string][]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string][]string{}
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if header {
			if hk, hv, hok := strings.Cut(s, ":"); hok && (!ok || len(hk) < len(k)) {
				k, v, ok = hk, strings.TrimSpace(hv), true
			}
		}
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s %q: want NAME=VALUE, e.g. %s %s", flag, s, flag, example)
		}
		if header {
			k = strings.ToLower(k)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

func labels(flag string, in []string) (map[string]string, error) {
	p, err := pairs(flag, "app=frontend", in, false)
	if err != nil || p == nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range p {
		if len(v) > 1 {
			return nil, fmt.Errorf("%s %s: given %d times; a label has one value", flag, k, len(v))
		}
		out[k] = v[0]
	}
	return out, nil
}

// sourced are the intents a cluster is explained with, and their commit
// when they come from Git.
type sourced struct {
	in     *schema.Intents
	commit string
}

// intents are the clusters to explain, in wave order, and the intents
// of each: those of dir, or with --live those of the commit each cluster
// holds.
func (f *explainFlags) intents(ctx context.Context, dir string) ([]string, map[string]sourced, error) {
	if f.live.live {
		return f.live.intents(ctx, f.clusters, f.limits)
	}
	in, err := loadDir(ctx, dir, f.limits)
	if err != nil {
		return nil, nil, err
	}
	clusters, err := explainClusters(in, f.clusters)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]sourced{}
	for _, cl := range clusters {
		out[cl] = sourced{in: in}
	}
	return clusters, out, nil
}

// resolveGateway turns a gateway intent's name into NAMESPACE/NAME.
func resolveGateway(in *schema.Intents, req *explain.Request) error {
	if req.Gateway == "" || strings.Contains(req.Gateway, "/") {
		return nil
	}
	if g, ok := in.Gateways[req.Gateway]; ok {
		req.Gateway = g.Namespace + "/" + req.Gateway
		return nil
	}
	var have []string
	for _, name := range slices.Sorted(maps.Keys(in.Gateways)) {
		have = append(have, in.Gateways[name].Namespace+"/"+name)
	}
	if len(have) == 0 {
		return fmt.Errorf("--gateway %s: the intents declare no gateways: leave --gateway out for a request from inside the mesh", req.Gateway)
	}
	return fmt.Errorf("--gateway %s: no gateway of that name: give one of %s, or leave --gateway out for a request from inside the mesh", req.Gateway, strings.Join(have, ", "))
}

// explainClusters are the fleet's clusters, by wave then name, or those
// asked for; "" stands for intents without a fleet.
func explainClusters(in *schema.Intents, asked []string) ([]string, error) {
	all := slices.Sorted(maps.Keys(in.Fleet.Clusters))
	slices.SortStableFunc(all, func(a, b string) int { return in.Fleet.Clusters[a].Wave - in.Fleet.Clusters[b].Wave })
	if len(asked) == 0 {
		if len(all) == 0 {
			return []string{""}, nil
		}
		return all, nil
	}
	for _, c := range asked {
		if !slices.Contains(all, c) {
			if len(all) == 0 {
				return nil, fmt.Errorf("--cluster %s: the intents declare no fleet: leave --cluster out", c)
			}
			return nil, fmt.Errorf("--cluster %s: not in the fleet: give one of %s", c, strings.Join(all, ", "))
		}
	}
	return asked, nil
}
