package slack

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is two real clusters: c1 (wave 1, also the home cluster holding the
// promotion state) and c2 (wave 2).
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 2, &env) }
