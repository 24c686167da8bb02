package metrics

import (
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
)

// phases are a promotion's phases (promote.Phase), each a series of
// sailplan_promotion_phase, so that a phase shows as 0 before and after
// it, as flagger_canary_status does.
var phases = []string{"Progressing", "WaitingForApproval", "Paused", "Promoted", "RolledBack", "Aborted"}

const waitingForApproval = "WaitingForApproval"

// promotions are the metrics of each service's promotion and its
// analyses.
type promotions struct {
	transitions *prometheus.CounterVec
	writeBacks  *prometheus.CounterVec
	analyses    *prometheus.CounterVec
	checkCount  *prometheus.CounterVec

	weight       *prometheus.Desc
	phase        *prometheus.Desc
	waiting      *prometheus.Desc
	waitingSince *prometheus.Desc
	checkValue   *prometheus.Desc
	threshold    *prometheus.Desc

	mu sync.Mutex
	// current is each promotion as last published; checks each check as
	// last looked at, by service and check name, its value the last one
	// measured. The leader's view, dropped when it stops leading.
	current map[string]notify.Promotion
	checks  map[string]map[string]notify.Check
	// canaries are the services with a canary in the latest commit's
	// intents; nil until a commit is applied.
	canaries map[string]bool
	// known are the services that have series.
	known map[string]bool
}

func newPromotions(reg prometheus.Registerer) *promotions {
	p := &promotions{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_promotion_transitions_total",
			Help: "Promotion transitions, by service and the phase they led to.",
		}, []string{"service", "phase"}),
		writeBacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_promotion_write_backs_total",
			Help: "Write-backs of promoted candidates to Git, by service and outcome: committed, review (a branch pushed for review) or not_written (a person must make the candidate stable).",
		}, []string{"service", "outcome"}),
		analyses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_analyses_total",
			Help: "Analyses of a candidate's traffic by service and verdict: pass, fail, inconclusive (too little traffic) or unavailable (no metrics source).",
		}, []string{"service", "result"}),
		checkCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sailplan_analysis_checks_total",
			Help: "Checks of analyses by service, check and result: pass, fail, inconclusive (nothing measured) or unavailable (nothing measured, no metrics source).",
		}, []string{"service", "check", "result"}),
		weight: prometheus.NewDesc("sailplan_promotion_weight_ratio",
			"The candidate's share of the service's traffic in the clusters of a wave, 0 to 1.", []string{"service", "wave"}, nil),
		phase: prometheus.NewDesc("sailplan_promotion_phase",
			"1 for the phase a service's promotion is in, 0 for the other phases.", []string{"service", "phase"}, nil),
		waiting: prometheus.NewDesc("sailplan_promotion_approval_waiting",
			"1 while a service's promotion waits for an approval, 0 otherwise.", []string{"service"}, nil),
		waitingSince: prometheus.NewDesc("sailplan_promotion_approval_waiting_since_timestamp_seconds",
			"When the approval a promotion waits for was asked for, in Unix seconds; only while it waits.", []string{"service"}, nil),
		checkValue: prometheus.NewDesc("sailplan_analysis_check_value",
			"The value a check of a service's analysis last measured, in the check's unit (success rate in %, p99 latency in ms, requests).", []string{"service", "check"}, nil),
		threshold: prometheus.NewDesc("sailplan_analysis_check_threshold",
			"A bound of a check of a service's analysis, in the check's unit: bound is min (the value must be at least this) or max (at most this).", []string{"service", "check", "bound"}, nil),
		current: map[string]notify.Promotion{},
		checks:  map[string]map[string]notify.Check{},
		known:   map[string]bool{},
	}
	reg.MustRegister(p.transitions, p.writeBacks, p.analyses, p.checkCount, p)
	return p
}

func (p *promotions) handle(e notify.Event) {
	switch e := e.(type) {
	case notify.PromotionsLoaded:
		for _, pr := range e.Promotions {
			p.set(pr)
		}
	case notify.PromotionHolding:
		// Not a transition: the phase stays, only the reason changes.
		p.set(e.Current())
	case notify.PromotionWrittenBack:
		// Not a transition: the promotion stays Promoted.
		outcome := "committed"
		if e.Review {
			outcome = "review"
		}
		p.set(e.Current())
		p.writeBacks.WithLabelValues(e.Current().Service, outcome).Inc()
	case notify.PromotionNotWrittenBack:
		p.set(e.Current())
		p.writeBacks.WithLabelValues(e.Current().Service, "not_written").Inc()
	case notify.PromotionEvent:
		pr := e.Current()
		if p.set(pr) {
			p.transitions.WithLabelValues(pr.Service, pr.Phase).Inc()
		}
	case notify.AnalysisResult:
		p.analysis(e)
	case notify.CommitApplying:
		if e.Intents != nil {
			p.forget(e.Intents.Services)
		}
	case notify.LeaderChanged:
		if !e.Leading {
			p.mu.Lock()
			clear(p.current)
			clear(p.checks)
			p.mu.Unlock()
		}
	}
}

// set keeps a promotion as it stands, unless the latest intents have no
// canary for its service: promotions stored for services that no longer
// have one are loaded too, and are no promotion any more.
func (p *promotions) set(pr notify.Promotion) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.canaries != nil && !p.canaries[pr.Service] {
		return false
	}
	p.current[pr.Service] = pr
	p.known[pr.Service] = true
	return true
}

func (p *promotions) analysis(e notify.AnalysisResult) {
	p.mu.Lock()
	p.known[e.Service] = true
	if p.checks[e.Service] == nil {
		p.checks[e.Service] = map[string]notify.Check{}
	}
	for _, c := range e.Checks {
		// A check that measured nothing keeps the last value it did.
		if last, ok := p.checks[e.Service][c.Name]; ok && !c.Measured {
			c.Value, c.Measured = last.Value, last.Measured
		}
		p.checks[e.Service][c.Name] = c
	}
	p.mu.Unlock()
	p.analyses.WithLabelValues(e.Service, e.Verdict).Inc()
	for _, c := range e.Checks {
		p.checkCount.WithLabelValues(e.Service, c.Name, checkResult(c, e.Verdict)).Inc()
	}
}

// checkResult is one check's result: pass or fail when it measured
// something, else what the analysis as a whole says of missing values.
func checkResult(c notify.Check, verdict string) string {
	switch {
	case c.Measured && c.Passed:
		return notify.Pass
	case c.Measured:
		return notify.Fail
	case verdict == notify.Unavailable:
		return notify.Unavailable
	}
	return notify.Inconclusive
}

// forget deletes every series of the services that no longer have a
// canary in the intents: their promotion is over, whatever its state says.
func (p *promotions) forget(services map[string]*schema.Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.canaries = map[string]bool{}
	for name, svc := range services {
		if svc != nil && svc.Canary != nil {
			p.canaries[name] = true
		}
	}
	for name := range p.known {
		if p.canaries[name] {
			continue
		}
		gone := prometheus.Labels{"service": name}
		for _, v := range []*prometheus.MetricVec{p.transitions.MetricVec, p.writeBacks.MetricVec, p.analyses.MetricVec, p.checkCount.MetricVec} {
			v.DeletePartialMatch(gone)
		}
		delete(p.known, name)
		delete(p.current, name)
		delete(p.checks, name)
	}
}

// Describe and Collect serve the gauges of the promotions as they stand.
func (p *promotions) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.weight, p.phase, p.waiting, p.waitingSince, p.checkValue, p.threshold} {
		ch <- d
	}
}

func (p *promotions) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, name := range slices.Sorted(maps.Keys(p.current)) {
		pr := p.current[name]
		for _, w := range pr.Waves {
			gauge(p.weight, float64(w.Weight)/100, name, strconv.Itoa(w.Wave))
		}
		// A phase promote adds before this list learns of it still shows.
		all := phases
		if !slices.Contains(all, pr.Phase) {
			all = append(slices.Clone(all), pr.Phase)
		}
		for _, ph := range all {
			gauge(p.phase, bool01(ph == pr.Phase), name, ph)
		}
		gauge(p.waiting, bool01(pr.Phase == waitingForApproval), name)
		if pr.Phase == waitingForApproval && !pr.WaitingSince.IsZero() {
			gauge(p.waitingSince, float64(pr.WaitingSince.Unix()), name)
		}
	}
	for name, checks := range p.checks {
		for _, c := range checks {
			if c.Measured {
				gauge(p.checkValue, c.Value, name, c.Name)
			}
			if c.Min != nil {
				gauge(p.threshold, *c.Min, name, c.Name, "min")
			}
			if c.Max != nil {
				gauge(p.threshold, *c.Max, name, c.Name, "max")
			}
		}
	}
}
