package sync

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

// env is three real clusters (c1, c2, c3) shared by this package's tests; each
// test works in a namespace of its own.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 3, &env) }
