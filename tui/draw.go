package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// styles are the dashboard's colours, bound to one renderer so the colour
// profile follows the output (none when writing to a buffer in tests).
type styles struct {
	title, dim, bold, border   lipgloss.Style
	up, down, paused, isolated lipgloss.Style
	warn, pass, fail           lipgloss.Style
	passBadge, failBadge       lipgloss.Style
	warnBadge                  lipgloss.Style
	fault                      lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := func() lipgloss.Style { return r.NewStyle() }
	return styles{
		title:     s().Bold(true).Foreground(lipgloss.Color("12")),
		dim:       s().Foreground(lipgloss.Color("8")),
		bold:      s().Bold(true),
		border:    s().Foreground(lipgloss.Color("8")),
		up:        s().Foreground(lipgloss.Color("10")),
		down:      s().Foreground(lipgloss.Color("9")).Bold(true),
		paused:    s().Foreground(lipgloss.Color("11")),
		isolated:  s().Foreground(lipgloss.Color("13")),
		warn:      s().Foreground(lipgloss.Color("11")),
		pass:      s().Foreground(lipgloss.Color("10")),
		fail:      s().Foreground(lipgloss.Color("9")).Bold(true),
		passBadge: s().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("10")),
		failBadge: s().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("9")),
		warnBadge: s().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("11")),
		fault:     s().Foreground(lipgloss.Color("9")),
	}
}

// fit pads or truncates s to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}

// box draws lines inside a rounded border of w×h cells with the title in
// the top edge; lines beyond the box are dropped, missing ones are blank.
func (st styles) box(title string, lines []string, w, h int) []string {
	if w < 4 || h < 2 {
		return nil
	}
	inner := w - 4
	top := "╭─ " + title + " "
	if ansi.StringWidth(top) > w-1 {
		top = ansi.Truncate(top, w-1, "")
	}
	top += strings.Repeat("─", max(0, w-1-ansi.StringWidth(top))) + "╮"
	out := make([]string, 0, h)
	out = append(out, st.border.Render(top))
	side := st.border.Render("│")
	for i := 0; i < h-2; i++ {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		out = append(out, side+" "+fit(l, inner)+" "+side)
	}
	out = append(out, st.border.Render("╰"+strings.Repeat("─", w-2)+"╯"))
	return out
}

// beside joins two blocks of lines side by side.
func beside(a, b []string) []string {
	n := max(len(a), len(b))
	out := make([]string, n)
	wa := 0
	if len(a) > 0 {
		wa = ansi.StringWidth(a[0])
	}
	for i := range n {
		l := strings.Repeat(" ", wa)
		if i < len(a) {
			l = a[i]
		}
		if i < len(b) {
			l += b[i]
		}
		out[i] = l
	}
	return out
}

// sparkBlocks are the eight sparkline levels, three bytes each in UTF-8.
const sparkBlocks = "▁▂▃▄▅▆▇█"

// spark draws the last w values as a sparkline scaled to their maximum,
// right-aligned (blank where there is no data yet).
func spark(vals []float64, w int) string {
	if w <= 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	top := 0.0
	for _, v := range vals {
		top = max(top, v)
	}
	var b strings.Builder
	b.Grow(w * 3)
	b.WriteString(strings.Repeat(" ", w-len(vals)))
	for _, v := range vals {
		const levels = len(sparkBlocks) / 3
		i := 0
		if top > 0 && v > 0 {
			i = min(levels-1, max(1, int(v/top*float64(levels-1)+0.5)))
		}
		b.WriteString(sparkBlocks[3*i : 3*i+3])
	}
	return b.String()
}

// dur formats a latency compactly: 0.85ms, 12.3ms, 456ms, 1.07s.
func dur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fs", ms/1000)
	}
}

// secs formats a run-clock offset: 20.3s.
func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
