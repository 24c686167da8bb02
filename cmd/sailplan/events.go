package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sailplan/sailplan/notify"
	"github.com/sailplan/sailplan/notify/logs"
	"github.com/sailplan/sailplan/notify/status"
	"github.com/sailplan/sailplan/sync/apply"
)

// statusWriteTimeout bounds each write of the status to a cluster.
const statusWriteTimeout = 5 * time.Second

// events is one process's event stream with the consumers every command
// that syncs has: the fleet model, the log, and the status kept in the
// clusters for `sailplan status`. The model comes first, so that the
// consumers after it read a model that has folded the event.
type events struct {
	bus    *notify.Bus
	model  *notify.Model
	status *status.Writer
}

func newEvents(log *slog.Logger, kubeconfig string, opts apply.Options, by string) *events {
	opts = opts.WithDefaults()
	e := &events{bus: notify.NewBus(), model: notify.NewModel()}
	e.bus.Log = log
	e.status = &status.Writer{
		Place: &status.Place{Kubeconfig: kubeconfig, Namespace: opts.ParentNamespace, Name: status.NamePlace(opts.ParentName), Timeout: statusWriteTimeout},
		Model: e.model,
		By:    by,
		Log:   log,
	}
	e.bus.Subscribe(e.model)
	e.bus.Subscribe(logs.New(log))
	e.bus.Subscribe(e.status)
	return e
}

// identity names this process in the leader lease and the status it writes.
func identity(command string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("sailplan %s on %s (pid %d)", command, host, os.Getpid())
}
