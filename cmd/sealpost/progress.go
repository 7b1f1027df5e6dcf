package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws the audit's progress on stderr: a bar redrawn in place
// on a terminal, else a plain line now and then.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	now      func() time.Time
	every    time.Duration // time between redraws (terminal) or lines
	last     time.Time
	drawn    bool
	label    string
	barWidth int
}

func newProgress(w io.Writer, tty bool, label string) *progress {
	p := &progress{w: w, tty: tty, now: time.Now, label: label, barWidth: 30}
	if tty {
		p.every = 100 * time.Millisecond
	} else {
		p.every = 5 * time.Second
	}
	return p
}

// update reports done of total (total <= 0: unknown). Safe to call from
// any goroutine; draws at most once per interval, always at completion.
func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	complete := total > 0 && done >= total
	if p.drawn && !complete && now.Sub(p.last) < p.every {
		return
	}
	if !p.drawn && !p.tty {
		// Plain output: the first line after one interval, so quick
		// runs print nothing but the summary.
		if p.last.IsZero() {
			p.last = now
			return
		}
		if now.Sub(p.last) < p.every {
			return
		}
	}
	p.last = now
	p.drawn = true
	if p.tty {
		io.WriteString(p.w, "\r"+p.bar(done, total)+"\x1b[K")
		return
	}
	io.WriteString(p.w, p.plain(done, total)+"\n")
}

// finish clears the bar from the terminal.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		io.WriteString(p.w, "\r\x1b[K")
	}
}

func (p *progress) bar(done, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%s %d", p.label, done)
	}
	done = min(max(done, 0), total)
	fill := int(done * int64(p.barWidth) / total)
	return fmt.Sprintf("%s [%s%s] %3d%% %d/%d", p.label,
		strings.Repeat("#", fill), strings.Repeat(".", p.barWidth-fill),
		done*100/total, done, total)
}

func (p *progress) plain(done, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%s: %d", p.label, done)
	}
	done = min(max(done, 0), total)
	return fmt.Sprintf("%s: %d/%d (%d%%)", p.label, done, total, done*100/total)
}
