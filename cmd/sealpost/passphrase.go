package main

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
)

// terminal is the terminal on standard input.
type terminal interface {
	// IsTerminal reports whether standard input is a terminal.
	IsTerminal() bool
	// ReadPassword shows prompt and reads one line without echo.
	ReadPassword(prompt string) ([]byte, error)
}

// fdTerminal is the real terminal on a file descriptor; prompts go to out.
type fdTerminal struct {
	fd  int
	out io.Writer
}

func (t fdTerminal) IsTerminal() bool { return isTerminal(t.fd) }

func (t fdTerminal) ReadPassword(prompt string) ([]byte, error) {
	io.WriteString(t.out, prompt)
	p, err := readNoEcho(t.fd)
	io.WriteString(t.out, "\n")
	return p, err
}

// passphraseEnv is the environment variable that may hold the passphrase.
const passphraseEnv = "SEALPOST_PASSPHRASE"

// maxPassphrase bounds what is read from a passphrase file.
const maxPassphrase = 4096

var (
	errEmptyPassphrase = errors.New("empty passphrase")
	errMismatch        = errors.New("the passphrases do not match")
)

// passphraseSource says where a passphrase comes from: a file named by a
// flag, an environment variable, or a prompt.
type passphraseSource struct {
	file, fileFlag string // the file and the flag that names it
	env            string // "" = no environment variable
	prompt         string
	confirm        bool // ask twice on the terminal
}

// storePassphrase returns the passphrase of the store in a.dir; confirm
// asks twice on the terminal (a new store).
func (a *app) storePassphrase(confirm bool) ([]byte, error) {
	return a.readPassphrase(passphraseSource{
		file: a.passFile, fileFlag: "--passphrase-file", env: passphraseEnv,
		prompt: fmt.Sprintf("Passphrase for %s: ", a.dir), confirm: confirm,
	})
}

// readPassphrase reads a passphrase from src. An empty passphrase is
// refused; so is a terminal answer that differs the second time.
func (a *app) readPassphrase(src passphraseSource) ([]byte, error) {
	if src.file != "" {
		p, err := readPassphraseFile(src.file)
		if err != nil {
			return nil, usagef("%s: %v", src.fileFlag, err)
		}
		return p, nil
	}
	if src.env != "" {
		if v := a.getenv(src.env); v != "" {
			return []byte(v), nil
		}
	}
	if a.term == nil || !a.term.IsTerminal() {
		how := src.fileFlag + " FILE"
		if src.env != "" {
			how += " or $" + src.env
		}
		return nil, usagef("no passphrase: standard input is not a terminal; use %s", how)
	}
	p, err := a.term.ReadPassword(src.prompt)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	p = bytes.TrimSuffix(p, []byte("\r"))
	if len(p) == 0 {
		return nil, usagef("%v", errEmptyPassphrase)
	}
	if src.confirm {
		again, err := a.term.ReadPassword("Repeat " + lowerFirst(src.prompt))
		if err != nil {
			clear(p)
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		again = bytes.TrimSuffix(again, []byte("\r"))
		same := subtle.ConstantTimeCompare(p, again) == 1
		clear(again)
		if !same {
			clear(p)
			return nil, usagef("%v", errMismatch)
		}
	}
	return p, nil
}

// readPassphraseFile returns the first line of the file at path, without
// its line ending. An empty first line is refused.
func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return firstLine(f)
}

func firstLine(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxPassphrase+2), maxPassphrase+2)
	line, err := br.ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("first line longer than %d bytes", maxPassphrase)
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > maxPassphrase {
		return nil, fmt.Errorf("first line longer than %d bytes", maxPassphrase)
	}
	if len(line) == 0 {
		return nil, errEmptyPassphrase
	}
	p := bytes.Clone(line)
	clear(line)
	return p, nil
}

func lowerFirst(s string) string {
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		return string(s[0]+'a'-'A') + s[1:]
	}
	return s
}
