package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// watchEvery is how often --watch reads again. The reads are those of the
// command without --watch (the status ConfigMaps, the promotion states),
// so --watch needs no more RBAC and no route to the daemon; a read of a
// few small ConfigMaps every two seconds costs the apiservers nothing
// worth counting.
const watchEvery = 2 * time.Second

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\x1b[H\x1b[2J"

// watch draws frame now and again whenever what it draws changes, until
// ctx ends (Ctrl-C). On a terminal each frame replaces the last; into a
// file or a pipe, each new frame follows the last under a line with the
// time, so that a log of the watch reads as a history. A frame that
// fails shows its error and the watch goes on: a cluster that stops
// answering is news, not the end.
func watch(ctx context.Context, w io.Writer, every time.Duration, frame func(ctx context.Context, w io.Writer) error) error {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var last []byte
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var b bytes.Buffer
		if err := frame(ctx, &b); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(&b, "sailplan: %v\n", err)
		}
		if !bytes.Equal(b.Bytes(), last) {
			last = b.Bytes()
			var err error
			if tty {
				_, err = fmt.Fprintf(w, "%s%s\n(every %s; Ctrl-C to stop) %s\n", clearScreen, last, every, time.Now().Format(time.TimeOnly))
			} else {
				_, err = fmt.Fprintf(w, "--- %s\n%s", time.Now().Format(time.DateTime), last)
			}
			if err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
