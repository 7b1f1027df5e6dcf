// Command sealpost-conformance runs Sealpost's test vectors against another
// implementation of the protocol (spec/conformance.md).
//
// It starts the program given after the flags, writes it one JSON request
// per line on its standard input ({"file", "id", "case"}), reads one JSON
// answer per line from its standard output ({"id", "result"} or
// {"id", "error"}, or {"id", "unsupported": true}), and compares each
// answer with the vector file's:
//
//	go run ./cmd/sealpost-conformance -- python3 my_impl.py --conformance
//	go run ./cmd/sealpost-conformance -file client.json -v -- ./my-impl
//
// It prints every failure, a summary per file, and exits 1 if any check
// failed or the conversation broke, 0 otherwise. Unsupported checks are
// skipped unless -all is given.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sealpost/sealpost/internal/conformance"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sealpost-conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	files := fs.String("file", "", "comma-separated vector files to run (default: every supported file)")
	verbose := fs.Bool("v", false, "print every check, not only failures")
	all := fs.Bool("all", false, "count unsupported answers as failures")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up on the program after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealpost-conformance [flags] -- program [args...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	suites, err := pick(*files)
	if err != nil {
		fmt.Fprintln(stderr, "sealpost-conformance:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	p, err := conformance.Start(ctx, fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "sealpost-conformance:", err)
		return 1
	}
	failed := false
	for _, s := range suites {
		out, err := p.Run(s)
		counts := map[string]int{}
		for _, o := range out {
			if o.Status == "skip" && *all {
				o.Status, o.Detail = "fail", "unsupported"
			}
			counts[o.Status]++
			if o.Status == "fail" || *verbose {
				fmt.Fprintf(stdout, "%s %s %s %s\n", strings.ToUpper(o.Status), o.File, o.ID, o.Detail)
			}
		}
		fmt.Fprintf(stdout, "%s: %d pass, %d fail, %d skip\n", s.File, counts["pass"], counts["fail"], counts["skip"])
		if counts["fail"] > 0 {
			failed = true
		}
		if err != nil {
			fmt.Fprintln(stderr, "sealpost-conformance:", err)
			p.Close()
			return 1
		}
	}
	if err := p.Close(); err != nil {
		fmt.Fprintln(stderr, "sealpost-conformance:", err)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// pick returns the suites named in list (every suite when it is empty).
func pick(list string) ([]*conformance.Suite, error) {
	all := conformance.Suites()
	if list == "" {
		return all, nil
	}
	var out []*conformance.Suite
	for _, name := range strings.Split(list, ",") {
		var found *conformance.Suite
		for _, s := range all {
			if s.File == name {
				found = s
			}
		}
		if found == nil {
			return nil, fmt.Errorf("no conformance suite for %q", name)
		}
		out = append(out, found)
	}
	return out, nil
}
