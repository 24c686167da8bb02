// Command meshlab stands in for a mesh's telemetry in the demo: it serves
// Istio-shaped metrics for one workload with the traffic it is told, and
// runs a real Prometheus (Debian's package) that scrapes them.
//
//	meshlab -dir .demo/meshlab -service reviews -namespace default -version v2 -rps 50
//
// It prints "prometheus http://127.0.0.1:PORT" once Prometheus is ready and
// runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/sailplan/sailplan/testenv"
)

func main() {
	dir := flag.String("dir", ".meshlab", "Prometheus's state directory")
	w := testenv.Workload{}
	flag.StringVar(&w.Service, "service", "reviews", "destination service")
	flag.StringVar(&w.Namespace, "namespace", "default", "destination namespace")
	flag.StringVar(&w.Version, "version", "v2", "destination version")
	t := testenv.Traffic{}
	flag.IntVar(&t.PerSecond, "rps", 50, "requests per second")
	flag.IntVar(&t.ErrorPercent, "errors", 0, "percentage of 503 responses")
	flag.Float64Var(&t.LatencyMS, "latency-ms", 20, "latency of every request")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, w, t); err != nil {
		fmt.Fprintln(os.Stderr, "meshlab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, w testenv.Workload, t testenv.Traffic) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mesh := testenv.NewMesh()
	mesh.Set(w, t)
	go mesh.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mesh.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	prom, err := testenv.RunPrometheus(ctx, dir, ln.Addr().String())
	if err != nil {
		return err
	}
	defer prom.Stop()
	fmt.Println("prometheus", prom.URL)
	<-ctx.Done()
	return nil
}
