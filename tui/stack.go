package tui

import (
	"fmt"
	"runtime/debug"
)

// onFreshStack runs f on a goroutine of its own and waits for it.
//
// Bubble Tea calls Update and View on the goroutine that runs its event
// loop, which lives as long as the session. Laying out and drawing the
// screens goes deep (lipgloss, width measuring, the screens' own views)
// and grows a goroutine's stack to 16 or 32 KB, and a stack shrinks only
// when a garbage collection finds it mostly unused, which on a quiet
// server takes minutes: every open screen would hold that much for the
// little the loop needs between messages. On a goroutine that ends, the
// grown stack goes back to the runtime at once, for the next screen's
// draw to reuse; the cost is a goroutine start, about a microsecond,
// against the hundreds a draw takes.
//
// A panic in f is raised again on the caller's goroutine, where Bubble
// Tea's own recovery restores the terminal.
func onFreshStack(f func()) {
	type ended struct {
		panicked any
		stack    []byte
	}
	done := make(chan ended, 1)
	go func() {
		var e ended
		defer func() {
			if v := recover(); v != nil {
				e.panicked, e.stack = v, debug.Stack()
			}
			done <- e
		}()
		f()
	}()
	if e := <-done; e.panicked != nil {
		panic(fmt.Sprintf("%v, at\n%s", e.panicked, e.stack))
	}
}
