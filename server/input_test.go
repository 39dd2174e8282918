package server

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	uv "github.com/charmbracelet/ultraviolet"
)

// decode runs tr over its whole input and returns the events it sent.
func decode(t *testing.T, tr *uv.TerminalReader) []uv.Event {
	t.Helper()
	events := make(chan uv.Event)
	ended := make(chan error, 1)
	go func() {
		ended <- tr.StreamEvents(context.Background(), events)
		close(events)
	}()
	var got []uv.Event
	for ev := range events {
		got = append(got, ev)
	}
	if err := <-ended; err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return got
}

// The screens' readers share one key table, and otherwise decode as a
// reader of their own does: every sequence in the table, and keys,
// text, pastes and escapes of every kind, give the same events. If an
// upgrade of ultraviolet changes the fields newInputReader copies, this
// fails (and the screens fall back to a table each).
func TestInputReaderSharesTheKeyTable(t *testing.T) {
	proto := sharedInput()
	if proto == nil {
		t.Fatal("ultraviolet's TerminalReader is not as newInputReader expects: every screen builds its own key table")
	}
	a, b := newInputReader(strings.NewReader(""), "xterm"), newInputReader(strings.NewReader(""), "xterm")
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	if unexported(va, "table").UnsafePointer() != unexported(vb, "table").UnsafePointer() {
		t.Error("two screens' readers have tables of their own")
	}
	if unexported(va, "eventScanner").Pointer() == unexported(vb, "eventScanner").Pointer() {
		t.Fatal("two screens' readers share their decoding state")
	}

	var inputs []string
	for _, k := range unexported(reflect.ValueOf(proto).Elem(), "table").MapKeys() {
		inputs = append(inputs, k.String())
	}
	if len(inputs) < 100 {
		t.Fatalf("the shared table has %d keys", len(inputs))
	}
	sort.Strings(inputs)
	inputs = append(inputs,
		"abc", "héllo wörld 👍🏽", "\r", "\t", "\x7f", "\x1b", "\x1b\x1b", "\x1ba", "\x03",
		"\x1b[A\x1b[1;5C\x1bOP\x1b[15;2~", "\x1b[3~x\x1b[", "\x1b[200~pasted\r\ntext\x1b[201~",
		"\x1b[200~unfinished paste", "\x1b]11;rgb:0000/0000/0000\x07", "\x1b[?1u", "\x1b[97;5u",
		"\x1b[<0;10;5M", "\x1b[I\x1b[O", "\x1bP>|xterm(1)\x1b\\", "\x1b[?2026;2$y",
	)
	for _, in := range inputs {
		want := decode(t, uv.NewTerminalReader(strings.NewReader(in), "xterm-256color"))
		got := decode(t, newInputReader(strings.NewReader(in), "xterm-256color"))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: the shared-table reader decoded %#v, a reader of its own %#v", in, got, want)
		}
	}

	// Readers in use at once share nothing they write (-race watches).
	all := strings.Join(inputs, "")
	var wg sync.WaitGroup
	results := make([][]uv.Event, 4)
	for i := range results {
		wg.Go(func() { results[i] = decode(t, newInputReader(strings.NewReader(all), "xterm")) })
	}
	wg.Wait()
	for i := range results[1:] {
		if !reflect.DeepEqual(results[i+1], results[0]) {
			t.Fatalf("readers at once decoded the same input differently: %d and %d events", len(results[i+1]), len(results[0]))
		}
	}
}

// A reader whose fields are not as expected is left alone, and the
// screens get a reader of their own.
func TestCopyReaderRefusesAnUnexpectedReader(t *testing.T) {
	proto := uv.NewTerminalReader(nil, "")
	unexported(reflect.ValueOf(proto).Elem(), "eventScanner").SetZero()
	if tr, ok := copyReader(proto, strings.NewReader("x")); ok || tr != nil {
		t.Fatal("copied a reader without a scanner")
	}
}
