// Command vectorgen writes spec/vectors/*.json from deterministic randomness
// (internal/testrand). Run it from the repository root:
//
//	go run ./spec/vectorgen            # every file
//	go run ./spec/vectorgen pqxdh.json # only the files named
//
// Each vector file has one generator in this package, registered by name.
// The tests in each crypto package load the files and check every field;
// TestGeneratedVectorsUpToDate checks that the committed files are exactly
// what this command writes.
package main

import (
	"fmt"
	"os"
	"sort"
)

var generators = map[string]func() ([]byte, error){}

// register adds the generator of one vector file. gen returns the file's
// complete JSON contents.
func register(name string, gen func() ([]byte, error)) {
	if _, dup := generators[name]; dup {
		panic("vectorgen: duplicate generator " + name)
	}
	generators[name] = gen
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vectorgen:", err)
		os.Exit(1)
	}
}

func names() []string {
	var ns []string
	for n := range generators {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func run() error {
	todo := os.Args[1:]
	if len(todo) == 0 {
		todo = names()
	}
	for _, n := range todo {
		if generators[n] == nil {
			return fmt.Errorf("no generator for %q", n)
		}
		b, err := generators[n]()
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if err := os.WriteFile(vectorPath(n), b, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", vectorPath(n))
	}
	return nil
}
