// Package freshstack runs a function on a goroutine that ends with it.
//
// A long-lived goroutine keeps the stack its deepest call grew: a stack
// shrinks only when a garbage collection finds it mostly unused, which on
// a quiet server takes minutes. The screens' goroutines live as long as
// their sessions and spend nearly all of it waiting, but building and
// drawing the screens goes deep (lipgloss, width measuring, the screens'
// own views) and grows a stack to 16 or 32 KB; every open screen would
// hold that much for the little it needs between messages. Run on a
// goroutine that ends, the grown stack goes back to the runtime at once,
// for the next draw to reuse; the cost is a goroutine start, about a
// microsecond, against the hundreds a draw takes.
package freshstack

import (
	"fmt"
	"runtime/debug"
)

// Run runs f on a goroutine of its own and waits for it. A panic in f is
// raised again on the caller's goroutine, with f's stack in its value, so
// that the caller's recovery (Bubble Tea's, a session's) handles it.
func Run(f func()) {
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
