package promote

import (
	"os"
	"testing"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/schema"
	"github.com/sailplan/sailplan/testenv"
)

// env is three real clusters (c1 in wave 1, c2 and c3 in wave 2 in the
// tests' fleets); c1 is also the home cluster that holds promotion state.
var env *testenv.Env

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		// A replica that TestCrashMidTransition kills: it uses the
		// parent's clusters.
		os.Exit(m.Run())
	}
	testenv.Main(m, 3, &env)
}

// step gives the controller the intents, as a new commit's event would,
// and takes one look at every canary.
func step(t testing.TB, c *Controller, in *schema.Intents) (bool, error) {
	t.Helper()
	c.Handle(notify.CommitApplying{Intents: in})
	return c.Step(t.Context())
}
