package server

import (
	"io"
	"reflect"
	"sync"
	"unsafe"

	uv "github.com/charmbracelet/ultraviolet"
)

// newInputReader is uv.NewTerminalReader(r, term) for a screen's input,
// with the key table every screen shares.
//
// ultraviolet's reader looks escape sequences up in a table of the keys
// a terminal sends (about 1,000 of them), which NewTerminalReader builds
// for every reader: 133 KB that each open screen holds for as long as it
// lasts (a sixth of what an idle 80x24 screen costs) and 290 KB of
// allocation each time one opens. The table depends only on the
// reader's legacy key flags and terminfo setting, which the screens never
// change (the terminal's name counts only with terminfo), and the reader
// never writes to it, so one serves every screen; but the reader has no
// way to be given one (it checks for a table already set, in a struct
// whose fields are unexported). So each screen's reader is a copy of one
// built at start, with its own source of input and its own decoding
// state: only the table is shared.
//
// The copy sets two unexported fields. Should a version of ultraviolet
// name or shape them differently, copyReader says so, the screens fall
// back to a reader of their own (the cost above, nothing else), and
// TestInputReaderSharesTheKeyTable fails, so the upgrade is noticed.
func newInputReader(r io.Reader, term string) *uv.TerminalReader {
	proto := sharedInput()
	if proto == nil {
		return uv.NewTerminalReader(r, term)
	}
	tr, ok := copyReader(proto, r)
	if !ok {
		return uv.NewTerminalReader(r, term)
	}
	return tr
}

// sharedInput is the reader every screen's is copied from, or nil if its
// fields are not as copyReader expects.
var sharedInput = sync.OnceValue(func() *uv.TerminalReader {
	proto := uv.NewTerminalReader(nil, "")
	if _, ok := copyReader(proto, nil); !ok {
		return nil
	}
	return proto
})

// copyReader copies proto, with r as its input and decoding state of its
// own: a copy of proto's scanner, which has decoded nothing. ok is false
// if the fields are not as expected (then nothing was changed).
func copyReader(proto *uv.TerminalReader, r io.Reader) (tr *uv.TerminalReader, ok bool) {
	src := reflect.ValueOf(proto).Elem()
	scanner := unexported(src, "eventScanner")
	if !scanner.IsValid() || scanner.Kind() != reflect.Pointer || scanner.IsNil() ||
		scanner.Type().Elem().Kind() != reflect.Struct {
		return nil, false
	}
	// The one thing shared: the table, which the scanner holds too.
	table, scannerTable := unexported(src, "table"), unexported(scanner.Elem(), "table")
	if !table.IsValid() || table.Kind() != reflect.Map || !scannerTable.IsValid() ||
		scannerTable.Type() != table.Type() || scannerTable.UnsafePointer() != table.UnsafePointer() {
		return nil, false
	}
	input := unexported(src, "r")
	if !input.IsValid() || input.Type() != reflect.TypeFor[io.Reader]() {
		return nil, false
	}

	tr = new(uv.TerminalReader)
	*tr = *proto
	dst := reflect.ValueOf(tr).Elem()
	own := reflect.New(scanner.Type().Elem())
	own.Elem().Set(scanner.Elem())
	unexported(dst, "eventScanner").Set(own)
	if r != nil {
		unexported(dst, "r").Set(reflect.ValueOf(r))
	}
	return tr, true
}

// unexported is struct v's field name, settable although unexported
// (v must be addressable); the zero Value if there is no such field.
func unexported(v reflect.Value, name string) reflect.Value {
	f := v.FieldByName(name)
	if !f.IsValid() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}
