package soak

import (
	"testing"

	"github.com/sailplan/sailplan/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, 3, &env) }
