package server

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/attest-dev/attest/server/config"
	"github.com/attest-dev/attest/store"
)

// A read transaction left open (a backup, a paused `attest facts`) must
// not hold up appends that grow the ledger file: bbolt remaps its file
// only after every reader has finished, so the server maps ahead.
func TestOpenReaderDoesNotStallGrowth(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows maps the ledger as it grows")
	}
	app, err := OpenLedger(config.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Ledger.Close()
	opened, release, closed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(closed)
		app.Ledger.View(func(store.Reader) error {
			close(opened)
			<-release
			return nil
		})
	}()
	<-opened
	defer func() { close(release); <-closed }()

	appended := make(chan error, 1)
	go func() {
		// About 8 MiB of facts: far past bbolt's first maps.
		body := json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 3000)))
		for i := range 40 {
			err := app.Ledger.Update(func(tx store.Tx) error {
				for range 64 {
					if _, err := tx.Append(store.Fact{Time: time.Unix(0, 0), Kind: "test.pad", User: fmt.Sprint("u", i), Body: body}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("appends stalled behind an open read transaction")
	}
}
