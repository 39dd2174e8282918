package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// keyJSON is one line of `keys --json`, and what `keys remember --json`
// and `keys remove --json` print.
type keyJSON struct {
	Fingerprint string     `json:"fingerprint"`
	AddedAt     *time.Time `json:"added_at"`
	Method      string     `json:"method"`     // "ssh" (remembered on its own device) or "device-link"
	Current     bool       `json:"current"`    // the key this connection uses
	Remembered  bool       `json:"remembered"` // false after `keys remove`
}

func runKeys(c *call) error {
	keys, err := c.Env.Service.Keys(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("list your keys: %w", err)
	}
	if c.JSON {
		for _, k := range keys {
			if err := c.Emit(keyJSON{Fingerprint: k.Fingerprint, AddedAt: cli.Stamp(k.Added), Method: k.Method,
				Current: k.Current, Remembered: true}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(keys) == 0 {
		c.Printf("No key is remembered for your account. `keys remember` remembers the key of this connection;\n" +
			"`approve` remembers a new device's key as it links it.\n")
		return nil
	}
	now := c.Env.Service.Now()
	rows := [][]string{{"KEY", "REMEMBERED", "HOW", ""}}
	for _, k := range keys {
		mark := ""
		if k.Current {
			mark = "← this key"
		}
		rows = append(rows, []string{inert.String(k.Fingerprint), when(k.Added, now), keyMethod(k.Method), mark})
	}
	if err := cli.Columns(c.Stdout, rows); err != nil {
		return err
	}
	c.Printf("\nA remembered key signs its device in with `signin --key`. Forget one with: keys remove FINGERPRINT\n")
	return nil
}

// keyMethod says how a key came to be remembered, for a person.
func keyMethod(m string) string {
	switch m {
	case "ssh":
		return "on its own device"
	case "device-link":
		return "by a device link"
	}
	return inert.String(m)
}

func runKeysRemember(c *call) error {
	if err := c.Env.Service.RememberKey(c.Ctx, c.Env.Device); err != nil {
		return fmt.Errorf("remember this key: %w", err)
	}
	tag := c.Env.Device.Tag
	if c.JSON {
		out := keyJSON{Fingerprint: tag, AddedAt: cli.Stamp(c.Env.Service.Now()), Method: "ssh", Current: true, Remembered: true}
		if keys, err := c.Env.Service.Keys(c.Ctx, c.Env.Device); err == nil {
			for _, k := range keys {
				if k.Current {
					out.AddedAt, out.Method = cli.Stamp(k.Added), k.Method
				}
			}
		}
		return c.Emit(out)
	}
	c.Printf("Remembered this connection's key (%s) for your account. After a sign-out, `signin --key` signs\n"+
		"this device back in without a code. Your addresses are told.\n", inert.String(tag))
	return nil
}

func runKeysRemove(c *call) error {
	fp := c.Args[0]
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp // as `keys` shows them, or without the prefix
	}
	if err := c.Env.Service.ForgetKey(c.Ctx, c.Env.Device, fp); err != nil {
		return fmt.Errorf("forget the key: %w", err)
	}
	if c.JSON {
		return c.Emit(keyJSON{Fingerprint: fp, Current: fp == c.Env.Device.Tag, Remembered: false})
	}
	c.Printf("Forgot key %s: it no longer signs in to your account. A device signed in with it stays signed\n"+
		"in; `signout --everywhere` signs every device out.\n", inert.String(fp))
	return nil
}
