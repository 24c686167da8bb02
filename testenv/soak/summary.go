package soak

import (
	"fmt"
	"io"
	"slices"
)

// Stats summarise one column of a soak run.
type Stats struct {
	Min, Median, Max float64
	// SlopePer100 is the least-squares slope against the commit number,
	// per 100 commits.
	SlopePer100 float64
	// Growth is the mean of the last tenth of the samples over the mean of
	// the first tenth, minus one: 0.05 is 5 % more at the end.
	Growth float64
}

// Summarize computes Stats of ys, the value after each commit xs.
func Summarize(xs, ys []float64) Stats {
	if len(ys) == 0 {
		return Stats{}
	}
	sorted := slices.Clone(ys)
	slices.Sort(sorted)
	s := Stats{Min: sorted[0], Max: sorted[len(sorted)-1], Median: median(sorted)}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx > 0 {
		s.SlopePer100 = 100 * sxy / sxx
	}
	tenth := max(1, len(ys)/10)
	first, last := mean(ys[:tenth]), mean(ys[len(ys)-tenth:])
	if first > 0 {
		s.Growth = last/first - 1
	}
	return s
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func mean(ys []float64) float64 {
	var s float64
	for _, y := range ys {
		s += y
	}
	return s / float64(len(ys))
}

const mib = 1 << 20

// WriteCSV writes the samples, memory in MiB.
func WriteCSV(w io.Writer, samples []Sample) error {
	if _, err := fmt.Fprintln(w, "commit,seconds,apply_seconds,rss_mib,peak_rss_mib,heap_alloc_mib,goroutines"); err != nil {
		return err
	}
	for _, s := range samples {
		if _, err := fmt.Fprintf(w, "%d,%.1f,%.2f,%.1f,%.1f,%.1f,%d\n", s.Commit, s.Seconds, s.ApplySeconds,
			float64(s.RSS)/mib, float64(s.PeakRSS)/mib, float64(s.HeapAlloc)/mib, s.Goroutines); err != nil {
			return err
		}
	}
	return nil
}

// WriteSummary writes a Markdown table of the samples after the first
// sync (commit 0, which creates everything, is a run of its own).
func WriteSummary(w io.Writer, samples []Sample) error {
	var xs, rss, peak, heap, gor, took []float64
	for _, s := range samples {
		if s.Commit == 0 {
			continue
		}
		xs = append(xs, float64(s.Commit))
		rss = append(rss, float64(s.RSS)/mib)
		peak = append(peak, float64(s.PeakRSS)/mib)
		heap = append(heap, float64(s.HeapAlloc)/mib)
		gor = append(gor, float64(s.Goroutines))
		took = append(took, s.ApplySeconds)
	}
	if _, err := fmt.Fprintf(w, "| after commits 1-%d | min | median | max | slope per 100 commits | last tenth / first tenth |\n| --- | --- | --- | --- | --- | --- |\n", len(xs)); err != nil {
		return err
	}
	for _, row := range []struct {
		name, unit string
		ys         []float64
	}{
		{"RSS, idle (MiB)", "", rss},
		{"RSS, peak during the commit (MiB)", "", peak},
		{"Go heap allocated, idle (MiB)", "", heap},
		{"goroutines", "", gor},
		{"push to applied on 3 clusters (s)", "", took},
	} {
		s := Summarize(xs, row.ys)
		if _, err := fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %+.1f | %+.1f %% |\n", row.name, s.Min, s.Median, s.Max, s.SlopePer100, 100*s.Growth); err != nil {
			return err
		}
	}
	return nil
}
