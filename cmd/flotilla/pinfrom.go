package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flotilla-ipfs/flotilla/internal/apiclient"
)

// pinOptionFlags are the pin options of `pin add`, which --from does not
// take: its options ride on each line.
var pinOptionFlags = []string{"replication", "replication-min", "replication-max", "name", "mode", "expire-in", "meta", "allocations"}

// errSomeFailed makes the exit status 1 once the failures are reported.
var errSomeFailed = errors.New("some pins failed")

// pinFrom streams the lines of a file (or stdin) to POST /pins/batch and
// reports the answers: a progress bar and the failures on stderr, a summary
// on stdout, or every answer with --json.
func (g *globals) pinFrom(cmd *cobra.Command, from string) error {
	var in io.Reader = cmd.InOrStdin()
	total := int64(-1)
	if from != "-" {
		f, err := os.Open(from)
		if err != nil {
			return fmt.Errorf("pin add --from: %w", err)
		}
		defer f.Close()
		if total, err = countLines(f); err != nil {
			return fmt.Errorf("pin add --from: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		in = f
	}
	var bar *progressbar.ProgressBar
	if !g.json && term.IsTerminal(int(os.Stderr.Fd())) {
		bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription("pinning"), progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("pins"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	var pinned, failed int
	start := time.Now()
	err := g.runAPI(cmd, func(ctx context.Context, c *apiclient.Client) error {
		return c.PinBatch(ctx, bufio.NewReaderSize(in, 1<<20), func(r apiclient.BatchResult) error {
			if r.Error == "" {
				pinned++
			} else {
				failed++
			}
			switch {
			case g.json:
				return printJSONLine(cmd.OutOrStdout(), r)
			case r.Error != "":
				if bar != nil {
					bar.Clear()
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "line %d (%s): %s\n", r.Line, r.Cid, r.Error)
			}
			if bar != nil {
				bar.Add(1)
			}
			return nil
		})
	})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	if !g.json {
		took := time.Since(start)
		fmt.Fprintf(cmd.OutOrStdout(), "pinned %d, failed %d, in %s (%.0f pins/s)\n", pinned, failed, took.Round(time.Millisecond), float64(pinned+failed)/took.Seconds())
	}
	if failed > 0 {
		return errSomeFailed
	}
	return nil
}

func countLines(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var n int64
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			n++
		}
	}
	return n, sc.Err()
}
