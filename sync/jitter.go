package sync

import (
	"math/rand/v2"
	"time"
)

// JitterFraction is how far Jitter may move an interval either way.
const JitterFraction = 0.1

// Jitter returns d moved by a random amount of up to ±10%, so that many
// sailplan instances started together (one per cluster, a restarted
// Deployment) do not poll the same Git server in lock step. d <= 0 is
// returned as is.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := time.Duration(float64(d) * JitterFraction)
	if spread <= 0 {
		return d
	}
	// Uniform in [d-spread, d+spread].
	return d - spread + rand.N(2*spread+1)
}
