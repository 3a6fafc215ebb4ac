package main

import (
	"fmt"
	"io"
	"strings"
)

// printer writes the demo's headings and notes; commands and their output
// come from harness.Kubectl's echo.
type printer struct {
	w    io.Writer
	step int
	// muted drops logf messages: the control plane's own "Stopped" would
	// repeat the demo's summary.
	muted bool
}

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

// heading starts a numbered section.
func (p *printer) heading(title string) {
	p.step++
	line := fmt.Sprintf("==> %d. %s", p.step, title)
	_, _ = fmt.Fprintf(p.w, "\n%s\n%s\n", line, strings.Repeat("-", len(line)))
}

// note prints an explanation, indented so it stands apart from commands.
func (p *printer) note(format string, args ...any) {
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		if line == "" {
			_, _ = fmt.Fprintln(p.w)
			continue
		}
		_, _ = fmt.Fprintf(p.w, "   %s\n", line)
	}
}

// logf passes the control plane's progress messages through as notes.
func (p *printer) logf(format string, args ...any) {
	if !p.muted {
		p.note(format, args...)
	}
}
