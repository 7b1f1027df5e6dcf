package main

import (
	"bytes"
	"errors"
	"io"
	"unicode"
)

// chat on a terminal reads keys one at a time (the terminal in
// non-canonical mode without echo, term_unix.go) so that it knows when the
// user starts typing a line (a typing signal, spec/client.md §12.7) and
// can keep the line being typed below what arrives meanwhile. liveLine is
// that line; app writes everything else above it (app.writeLocked).

// liveLine is the line being typed in chat, shown on out after prompt.
// Its fields are guarded by app.outMu.
type liveLine struct {
	out    io.Writer
	prompt string
	buf    []rune
}

// redraw shows the prompt and the line on the current terminal row.
func (l *liveLine) redraw() {
	io.WriteString(l.out, "\r\x1b[K"+l.prompt+string(l.buf))
}

// clear blanks the current terminal row.
func (l *liveLine) clear() { io.WriteString(l.out, "\r\x1b[K") }

// errEndOfInput is Ctrl-D on an empty line.
var errEndOfInput = errors.New("end of input")

// Keys the editor acts on.
const (
	keyEOF       = 0x04 // Ctrl-D
	keyBackspace = 0x08 // Ctrl-H
	keyKillLine  = 0x15 // Ctrl-U
	keyKillWord  = 0x17 // Ctrl-W
	keyRedraw    = 0x0c // Ctrl-L
	keyEscape    = 0x1b
	keyDelete    = 0x7f
)

// runeReader is what readEdited reads keys from (app.in).
type runeReader interface {
	ReadRune() (r rune, size int, err error)
	ReadByte() (byte, error)
}

// readEdited reads one line from keys typed on a terminal, echoing and
// editing it in l (Backspace, Ctrl-U, Ctrl-W; other control keys and
// escape sequences such as arrows are ignored). After each change to the
// line it calls edited with whether the line is empty now. Enter returns
// the line (and empties l); Ctrl-D on an empty line returns
// errEndOfInput.
func (a *app) readEdited(in runeReader, l *liveLine, edited func(empty bool)) ([]byte, error) {
	for {
		r, _, err := in.ReadRune()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errEndOfInput
			}
			return nil, err
		}
		a.outMu.Lock()
		before := len(l.buf)
		switch {
		case r == '\r' || r == '\n':
			line := []byte(string(l.buf))
			l.buf = nil
			l.redraw()
			a.outMu.Unlock()
			return line, nil
		case r == keyEOF:
			if len(l.buf) == 0 {
				l.clear()
				a.outMu.Unlock()
				return nil, errEndOfInput
			}
		case r == keyBackspace || r == keyDelete:
			if len(l.buf) > 0 {
				l.buf = l.buf[:len(l.buf)-1]
			}
			l.redraw()
		case r == keyKillLine:
			l.buf = nil
			l.redraw()
		case r == keyKillWord:
			n := len(l.buf)
			for n > 0 && unicode.IsSpace(l.buf[n-1]) {
				n--
			}
			for n > 0 && !unicode.IsSpace(l.buf[n-1]) {
				n--
			}
			l.buf = l.buf[:n]
			l.redraw()
		case r == keyRedraw:
			l.redraw()
		case r == keyEscape:
			a.outMu.Unlock()
			skipEscape(in)
			continue
		case r == '\t':
			l.buf = append(l.buf, ' ')
			io.WriteString(l.out, " ")
		case r < 0x20 || r == unicode.ReplacementChar || unsafeRune(r):
			// Other control keys, bytes that are not UTF-8, and runes
			// escapeText would escape are not part of a line.
		default:
			l.buf = append(l.buf, r)
			io.WriteString(l.out, string(r))
		}
		changed, empty := len(l.buf) != before, len(l.buf) == 0
		a.outMu.Unlock()
		if changed && edited != nil {
			edited(empty)
		}
	}
}

// skipEscape reads the rest of an escape sequence (ESC [ ... final, or
// ESC O x): arrow and function keys.
func skipEscape(in runeReader) {
	b, err := in.ReadByte()
	if err != nil || (b != '[' && b != 'O') {
		return
	}
	for {
		b, err := in.ReadByte()
		if err != nil || (b >= 0x40 && b <= 0x7e) {
			return
		}
	}
}

// trimLine removes a line's end of line.
func trimLine(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}
