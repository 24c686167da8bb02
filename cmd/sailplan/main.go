// Command sailplan renders Istio traffic intents from Git and applies them to a fleet of clusters.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sailplan/sailplan/schema/bounded"
)

func main() {
	// First: sailplan starts itself again to evaluate intents, where a
	// runaway evaluation can be stopped.
	bounded.RunIfChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
