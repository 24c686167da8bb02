package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sailplan/sailplan/sync"
)

// waveFlags say how waves hold when clusters fail or cannot be reached;
// run and apply share them.
type waveFlags struct {
	continueOnFailure bool
	maxUnreachable    string
	exclude           []string
}

func (w *waveFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&w.continueOnFailure, "continue-on-wave-failure", false, "apply later waves even when a cluster of an earlier wave failed")
	f.StringVar(&w.maxUnreachable, "max-unreachable-per-wave", "0",
		"clusters of a wave (a number, or a percentage such as 25%) that may be unreachable without holding a new commit back from later waves")
	f.StringArrayVar(&w.exclude, "exclude-cluster", nil, "declared cluster to leave out: not applied, not waited for (repeatable)")
}

// set puts the settings on r, refusing a value that could not be meant.
func (w *waveFlags) set(r *sync.Reconciler) error {
	v := intstr.Parse(w.maxUnreachable)
	if v.Type == intstr.String {
		p, ok := strings.CutSuffix(v.StrVal, "%")
		n, err := strconv.Atoi(p)
		if !ok || err != nil || n < 0 || n > 100 {
			return fmt.Errorf("--max-unreachable-per-wave %q: want a number of clusters or a percentage from 0%% to 100%%", w.maxUnreachable)
		}
	} else if v.IntVal < 0 {
		return fmt.Errorf("--max-unreachable-per-wave %q: want a number of clusters or a percentage from 0%% to 100%%", w.maxUnreachable)
	}
	r.ContinueOnWaveFailure, r.MaxUnreachable, r.Exclude = w.continueOnFailure, v, w.exclude
	return nil
}
