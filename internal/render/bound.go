package render

import (
	"fmt"
	"strings"
)

// BoundList joins items with sep, keeping as many leading items as fit in
// limit bytes and ending with "... and N more" for those left out, so a
// message built from user input (tier names, ports, policies) always fits
// the status schema's bounds.
func BoundList(items []string, sep string, limit int) string {
	joined := strings.Join(items, sep)
	if len(joined) <= limit {
		return joined
	}
	var b strings.Builder
	for i, item := range items {
		suffix := fmt.Sprintf("%s... and %d more", sep, len(items)-i)
		if i == 0 {
			suffix = fmt.Sprintf("... and %d more", len(items))
		}
		next := item
		if i > 0 {
			next = sep + item
		}
		// Room for this item and the suffix that would follow a later cut.
		laterSuffix := len(fmt.Sprintf("%s... and %d more", sep, len(items)-i-1))
		if b.Len()+len(next)+laterSuffix > limit {
			b.WriteString(suffix)
			return Truncate(b.String(), limit)
		}
		b.WriteString(next)
	}
	return b.String()
}

// Truncate cuts s to at most limit bytes, on a rune boundary, marking the cut.
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "...(truncated)"
	if limit <= len(mark) {
		return mark[:max(limit, 0)]
	}
	cut := limit - len(mark)
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
