package dataplane

import "testing"

// TestUDPSourceBlock hands out consecutive blocks and wraps before the end
// of the range, so a block never leaves it.
func TestUDPSourceBlock(t *testing.T) {
	b := &Bed{}
	if got := b.udpSourceBlock(10); got != udpSourceFirst {
		t.Fatalf("first block = %d, want %d", got, udpSourceFirst)
	}
	if got := b.udpSourceBlock(10); got != udpSourceFirst+10 {
		t.Fatalf("second block = %d, want %d", got, udpSourceFirst+10)
	}
	b.udpNext = udpSourceLast - 5
	if got := b.udpSourceBlock(10); got != udpSourceFirst {
		t.Fatalf("block past the end = %d, want a wrap to %d", got, udpSourceFirst)
	}
}
