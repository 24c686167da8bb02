package bounded

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		timeout time.Duration
		memory  int64
		err     string
	}{
		{args: nil, timeout: DefaultTimeout, memory: DefaultMemory},
		{args: []string{"--eval-timeout", "1m", "--eval-memory", "512MiB"}, timeout: time.Minute, memory: 512 << 20},
		{args: []string{"--eval-memory", "2Gi"}, timeout: DefaultTimeout, memory: 2 << 30},
		{args: []string{"--eval-memory", "1G"}, timeout: DefaultTimeout, memory: 1e9},
		{args: []string{"--eval-memory", "10MiB"}, err: `invalid argument "10MiB" for "--eval-memory" flag: "10MiB": want at least 64 MiB, which sailplan needs before it evaluates anything`},
		{args: []string{"--eval-memory", "lots"}, err: `invalid argument "lots" for "--eval-memory" flag: "lots": want a size such as 1GiB or 512MiB`},
	} {
		f := pflag.NewFlagSet("test", pflag.ContinueOnError)
		var l Limits
		AddFlags(f, &l)
		err := f.Parse(c.args)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%v: %v, want %s", c.args, err, c.err)
			}
			continue
		}
		if err != nil || l.Timeout != c.timeout || l.Memory != c.memory {
			t.Errorf("%v: %v, %s, %d; want %s, %d", c.args, err, l.Timeout, l.Memory, c.timeout, c.memory)
		}
	}
	f := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(f, &Limits{})
	if got := f.Lookup(MemoryFlag).DefValue; got != "1GiB" {
		t.Errorf("--eval-memory's default shows as %q, want 1GiB", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1 GiB", 1536 << 20: "1536 MiB", 256 << 10: "256 KiB", 1e9: "1000000000 bytes"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
