// Package specnames reads the error tables of spec/errors.md, the one list
// of every error name a conforming implementation must distinguish. Its
// tests hold the table, the key server's codes, the relay's wire enums, the
// protocol packages' sentinels and the vector files to the same names
// (spec/errors.md §5).
package specnames

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Row is one row of a table of spec/errors.md §3. Name is the error's name
// (spec/errors.md §1); Columns holds every cell by its header, lower-case,
// with surrounding backquotes removed from single-code cells.
type Row struct {
	Layer   string
	Name    string
	Columns map[string]string
}

// Table is spec/errors.md §3: the rows of each layer, in file order.
type Table map[string][]Row

// heading is a §3 subsection: "### 3.n Title `layer`".
var heading = regexp.MustCompile("^### 3\\.[0-9]+ .*`([a-z_]+)`\\s*$")

// namePattern is the convention of spec/errors.md §1.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// Parse reads spec/errors.md and returns its §3 tables. It refuses a row
// whose name breaks the convention, a name repeated within a layer with the
// same status, and a layer heading with no table.
func Parse(r io.Reader) (Table, error) {
	t := Table{}
	sc := bufio.NewScanner(r)
	layer := ""
	var header []string
	seen := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			layer, header = "", nil
			if m := heading.FindStringSubmatch(line); m != nil {
				layer = m[1]
				if _, dup := t[layer]; dup {
					return nil, fmt.Errorf("specnames: line %d: layer %q twice", n, layer)
				}
				t[layer] = nil
			}
			continue
		}
		if layer == "" || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := splitRow(line)
		if header == nil {
			header = cells
			for i := range header {
				header[i] = strings.ToLower(header[i])
			}
			if len(header) == 0 || header[0] != "name" {
				return nil, fmt.Errorf("specnames: line %d: a §3 table must start with a name column", n)
			}
			continue
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the separator row
		}
		if len(cells) != len(header) {
			return nil, fmt.Errorf("specnames: line %d: %d cells, header has %d", n, len(cells), len(header))
		}
		row := Row{Layer: layer, Columns: map[string]string{}}
		for i, h := range header {
			row.Columns[h] = unquote(cells[i])
		}
		row.Name = row.Columns["name"]
		if !namePattern.MatchString(row.Name) {
			return nil, fmt.Errorf("specnames: line %d: name %q is not lower-case words joined by underscores", n, row.Name)
		}
		key := layer + "/" + row.Name + "/" + row.Columns["status"]
		if seen[key] {
			return nil, fmt.Errorf("specnames: line %d: %s.%s twice", n, layer, row.Name)
		}
		seen[key] = true
		t[layer] = append(t[layer], row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("specnames: %w", err)
	}
	for l, rows := range t {
		if len(rows) == 0 {
			return nil, fmt.Errorf("specnames: layer %q has no rows", l)
		}
	}
	return t, nil
}

// Names returns the set of names of layer.
func (t Table) Names(layer string) map[string]bool {
	s := map[string]bool{}
	for _, r := range t[layer] {
		s[r.Name] = true
	}
	return s
}

// Len returns the number of rows in all layers.
func (t Table) Len() int {
	n := 0
	for _, rows := range t {
		n += len(rows)
	}
	return n
}

func splitRow(line string) []string {
	line = strings.TrimPrefix(strings.TrimSuffix(line, "|"), "|")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// unquote removes the backquotes around a cell that is one code span.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' && !strings.Contains(s[1:len(s)-1], "`") {
		return s[1 : len(s)-1]
	}
	return s
}
