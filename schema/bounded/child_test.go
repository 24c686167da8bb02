package bounded

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"testing"
)

// TestChildOfAnotherProtocol: a child started by a sailplan that speaks
// another protocol refuses, in words, instead of misreading its input.
func TestChildOfAnotherProtocol(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitProtocol {
		t.Fatalf("child: %v, want exit status %d", err, exitProtocol)
	}
	if want := "evaluation child: the parent speaks protocol \"0\", this binary \"1\"\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}
