package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	stdsync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/metrics"
	"github.com/sailplan/sailplan/promote"
	"github.com/sailplan/sailplan/schema/bounded"
	"github.com/sailplan/sailplan/sync"
	"github.com/sailplan/sailplan/sync/apply"
	"github.com/sailplan/sailplan/sync/kube"
	"github.com/sailplan/sailplan/sync/source"
)

func newRunCmd(g *globalFlags) *cobra.Command {
	var (
		git        gitFlags
		promo      promotionFlags
		wbf        writeBackFlags
		slackf     slackFlags
		interval   time.Duration
		kubeconfig string
		httpf      httpFlags
		stall      time.Duration
		pprofAddr  string
		once       bool
		opts       apply.Options
		// waves and limits are the reconciler's, beside opts.
		waves  waveFlags
		limits bounded.Limits
	)
	cmd := &cobra.Command{
		Use:   "run --repo URL [--branch main] [--path DIR]",
		Short: "Follow a Git branch and keep every cluster of the fleet at what it declares",
		Long: `run polls a Git branch (and takes push webhooks), loads the CUE intents under --path,
renders them for every cluster of the fleet they declare and server-side-applies the
result, wave by wave. With --home-context it also walks canaries through their plans.

Replicas elect a leader with a Lease (in --lease-context, else --home-context, else the
kubeconfig's current context): only the leader syncs, promotes and writes the status;
the others serve probes, webhooks and Slack clicks, and take over when it goes.

Credentials for each cluster come from the kubeconfig context named after it. Git
credentials and secrets come from files or the environment (see the flags), never from
the command line, and never reach a log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %s: must be positive", interval)
			}
			// client-go logs through klog; send it to the same place, in
			// the same format, at the same level.
			routeKlog(log)
			if limit, err := setMemoryLimit(cgroupMemoryMax); err != nil {
				log.Warn("no memory limit for the Go collector: the container's could not be read", "err", err)
			} else if limit > 0 {
				log.Info("Go collector's memory limit set from the container's", "limit_bytes", limit)
			}
			src, err := git.source(ctx)
			if err != nil {
				return err
			}
			id := identity("run")
			ev := newEvents(log, kubeconfig, opts, id)
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			ev.bus.Subscribe(metrics.New(reg))
			r := &sync.Reconciler{Source: src, Kubeconfig: kubeconfig, Options: opts, Events: ev.bus, EvalLimits: limits}
			if err := waves.set(r); err != nil {
				return err
			}
			// Sync hears the weights promotion decides.
			ev.bus.Subscribe(r)
			promotions, err := promo.controller(ctx, kubeconfig, log)
			if err != nil {
				return err
			}
			var home kubernetes.Interface
			var store *promote.Store
			if promotions != nil {
				home, store = promotions.client, promotions.ctrl.Store
				promotions.ctrl.Events = ev.bus
				// Promotion hears each new commit's plans.
				ev.bus.Subscribe(promotions.ctrl)
				r.WaitForPromotions = true
				ev.status.Extra = []string{promo.homeContext}
			}
			wb, err := wbf.writer(src, store, limits, log)
			if err != nil {
				return err
			}
			if wb != nil {
				// Write-back hears promotions end.
				ev.bus.Subscribe(wb)
			}
			sl, err := slackf.build(home, promo.namespace, log)
			if err != nil {
				return err
			}
			ev.bus.Subscribe(sl.notifier)
			if sl.interactions != nil && promotions == nil {
				return errors.New("slack approvals need promotions: give --home-context")
			}
			contexts, err := kube.Contexts(ctx, kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			if once {
				defer r.Close()
				go sl.notifier.Run(ctx)
				ev.status.Restore(ctx, contexts)
				if promotions != nil {
					if err := promotions.ctrl.Load(ctx); err != nil {
						return err
					}
				}
				err := r.Sync(ctx)
				ev.bus.Flush()
				ev.status.Write(ctx)
				// Give the messages of this one sync a bounded chance to go out.
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if derr := sl.notifier.Drain(dctx); derr != nil {
					log.Warn("slack messages not all delivered before exit", "err", derr)
				}
				return err
			}
			// One replica or several, the same election: only the holder
			// of the Lease writes to the clusters.
			elect, err := promo.election(ctx, kubeconfig, promotions, opts.WithDefaults().ParentName, id, log)
			if err != nil {
				return err
			}
			// The loop may take a whole interval between rounds.
			h := &health{loop: r, model: ev.model, stall: max(stall, 3*interval), now: time.Now}
			probes := h.probes()
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			hook, err := git.webhook(r.Trigger, ev.bus, log)
			if err != nil {
				return err
			}
			if hook != nil {
				mux.Handle("POST /webhook", hook)
			}
			// Any replica takes clicks: the decision goes through the
			// store's precondition, whoever leads.
			sl.wire(mux, store, ev.bus)
			mountPage(mux, ev, home, store, log)
			sl.run(ctx, log)
			srv, err := serve(ctx, serveConfig{httpFlags: httpf, Routes: mux, Probes: probes, Log: log})
			if err != nil {
				return err
			}
			defer srv.Shutdown(context.Background())
			if pprofAddr != "" {
				pp, err := servePprof(ctx, pprofAddr, log)
				if err != nil {
					return err
				}
				log.Info("profiles served", "pprof_listen", pp.Addr)
			}
			log.Info("sailplan running", "repo", source.RedactURL(git.repo), "path", git.path, "interval", interval, "listen", srv.Addr, "probe_listen", srv.ProbeAddr, "webhook", hook != nil, "promotions", promotions != nil, "write_back", wbf.mode,
				"slack", sl.posting, "slack_interactions", sl.httpRoute, "slack_socket_mode", sl.socket != nil, "lease", elect.String())
			// What the leader runs: the status (from where the last leader
			// left it), promotions, write-back and sync. Standbys run none
			// of it, so two replicas never fight over the clusters, the
			// status or Git. A term ends only when all have stopped: the
			// next leader starts writing after this one has stopped.
			lead := func(ctx context.Context) {
				h.lead(true)
				defer h.lead(false)
				// Metrics of the fleet are the leader's; a standby drops them.
				ev.bus.Publish(notify.LeaderChanged{At: notify.At{Time: time.Now()}, Leading: true})
				defer func() { ev.bus.Publish(notify.LeaderChanged{At: notify.At{Time: time.Now()}, Leading: false}) }()
				ev.status.Restore(ctx, contexts)
				var wg stdsync.WaitGroup
				defer wg.Wait()
				wg.Go(func() { ev.status.Run(ctx) })
				if promotions != nil {
					wg.Go(func() {
						if err := promotions.ctrl.Run(ctx); err != nil {
							log.Error("promotions stopped", "err", err)
						}
					})
				}
				if wb != nil {
					wg.Go(func() { wb.Run(ctx) })
				}
				if err := r.Run(ctx, interval); err != nil {
					log.Error("sync stopped", "err", err)
				}
			}
			// Said once, when the signal comes: what follows is shutting
			// down, not failing.
			stopLog := context.AfterFunc(ctx, func() { log.Info("sailplan stopping: finishing the sync under way") })
			defer stopLog()
			err = elect.run(ctx, lead)
			// The last messages go out, within bounds, before the process ends.
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = sl.notifier.Drain(dctx)
			log.Info("sailplan stopped")
			return err
		},
	}
	f := cmd.Flags()
	git.register(f)
	promo.register(f)
	wbf.register(f)
	slackf.register(f)
	f.DurationVar(&interval, "interval", 30*time.Second, "how often to poll the branch (with 10 % jitter)")
	f.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig with one context per fleet cluster")
	httpf.register(f)
	f.BoolVar(&once, "once", false, "sync once and exit")
	f.DurationVar(&stall, "stall-timeout", 10*time.Minute, "how long the leader's sync loop may go without completing a round before /livez fails (at least 3 intervals)")
	f.StringVar(&pprofAddr, "pprof-listen", "", "address to serve Go's profiles (/debug/pprof/) on, such as 127.0.0.1:6060, for an operator's port-forward; empty: off")
	addApplyFlags(f, &opts, &waves)
	bounded.AddFlags(f, &limits)
	return cmd
}
