package server

import (
	"encoding/binary"
	"testing"

	"charm.land/ssh"
)

func TestBoundWindow(t *testing.T) {
	prev := ssh.Window{Width: 100, Height: 40}
	for _, c := range []struct {
		asked, want ssh.Window
	}{
		{ssh.Window{Width: 120, Height: 50}, ssh.Window{Width: 120, Height: 50}},
		{ssh.Window{Width: 65535, Height: 65535}, ssh.Window{Width: maxColumns, Height: maxRows}},
		{ssh.Window{Width: 1 << 32, Height: 1 << 40}, ssh.Window{Width: maxColumns, Height: maxRows}},
		{ssh.Window{Width: 0, Height: 0}, prev},
		{ssh.Window{Width: -5, Height: 30}, ssh.Window{Width: 100, Height: 30}},
		{ssh.Window{Width: 1, Height: 1}, ssh.Window{Width: 1, Height: 1}},
		{ssh.Window{Width: 80, Height: 24, WidthPixels: 1 << 31, HeightPixels: -1}, ssh.Window{Width: 80, Height: 24, WidthPixels: maxPixels}},
	} {
		if got := boundWindow(c.asked, prev); got != c.want {
			t.Errorf("boundWindow(%+v) = %+v, want %+v", c.asked, got, c.want)
		}
	}
}

// FuzzTerminalSize feeds a pty-req and a run of window changes, each as
// the four uint32 the wire carries, through the session's bound, read as
// a 64-bit server reads them and as a 32-bit one would (where the biggest
// turn negative). Every size the screens see is within the bound, never
// zero, and the latest one wins.
func FuzzTerminalSize(f *testing.F) {
	f.Add(wire(80, 24, 0, 0, 65535, 65535, 0, 0))
	f.Add(wire(0, 0, 0, 0, 30000, 30000, 1, 1, 0, 12, 0, 0))
	f.Add(wire(0xffffffff, 0x80000000, 0xffffffff, 0, 1, 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sizes []ssh.Window
		for len(data) >= 16 && len(sizes) < 64 {
			u := func(i int) uint32 { return binary.BigEndian.Uint32(data[4*i:]) }
			sizes = append(sizes, ssh.Window{Width: int(u(0)), Height: int(u(1)), WidthPixels: int(u(2)), HeightPixels: int(u(3))})
			sizes = append(sizes, ssh.Window{Width: int(int32(u(0))), Height: int(int32(u(1))), WidthPixels: int(int32(u(2))), HeightPixels: int(int32(u(3)))})
			data = data[16:]
		}
		if len(sizes) == 0 {
			return
		}
		raw := make(chan ssh.Window, len(sizes))
		raw <- sizes[0] // the library queues the pty-req's own size first
		for _, w := range sizes[1:] {
			raw <- w
		}
		close(raw)
		ts := newTerminalSession(nil, ssh.Pty{Term: "xterm", Window: sizes[0]}, raw, nil)
		<-ts.Gone()
		want := boundWindow(sizes[0], initialWindow)
		for _, w := range sizes {
			want = boundWindow(w, want)
		}
		pty, winch, _ := ts.Pty()
		got := <-winch
		for _, w := range []ssh.Window{pty.Window, got} {
			if w.Width < 1 || w.Width > maxColumns || w.Height < 1 || w.Height > maxRows ||
				w.WidthPixels < 0 || w.WidthPixels > maxPixels || w.HeightPixels < 0 || w.HeightPixels > maxPixels {
				t.Fatalf("the screens were given %+v", w)
			}
			if w != want {
				t.Fatalf("the screens were given %+v, want the latest %+v", w, want)
			}
		}
	})
}

func wire(v ...uint32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}
