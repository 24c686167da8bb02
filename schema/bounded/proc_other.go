//go:build !linux

package bounded

import (
	"errors"
	"os"
	"syscall"
)

// Elsewhere than Linux, the time limit holds and the garbage collector
// keeps under the memory limit what it can; the memory limit itself is not
// enforced.

func self() (string, error) { return os.Executable() }

func sysProcAttr() *syscall.SysProcAttr { return nil }

type meter struct{}

func openMeter(int) (*meter, error) { return nil, errors.ErrUnsupported }

func (*meter) resident() (int64, bool) { return 0, false }
func (*meter) Close() error            { return nil }

func peakOf(*os.ProcessState) int64 { return 0 }

func capAddressSpace(int64) error { return nil }

func firstVictim() {}
