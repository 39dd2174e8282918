package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/tui/inert"
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
	keys, err := c.svc().Keys(c.ctx, c.dev())
	if err != nil {
		return fmt.Errorf("list your keys: %w", err)
	}
	if c.json {
		for _, k := range keys {
			if err := c.emit(keyJSON{Fingerprint: k.Fingerprint, AddedAt: stamp(k.Added), Method: k.Method,
				Current: k.Current, Remembered: true}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(keys) == 0 {
		c.printf("No key is remembered for your account. `keys remember` remembers the key of this connection;\n" +
			"`approve` remembers a new device's key as it links it.\n")
		return nil
	}
	now := c.svc().Now()
	rows := [][]string{{"KEY", "REMEMBERED", "HOW", ""}}
	for _, k := range keys {
		mark := ""
		if k.Current {
			mark = "← this key"
		}
		rows = append(rows, []string{inert.String(k.Fingerprint), when(k.Added, now), keyMethod(k.Method), mark})
	}
	if err := columns(c.env.Stdout, rows); err != nil {
		return err
	}
	c.printf("\nA remembered key signs its device in with `signin --key`. Forget one with: keys remove FINGERPRINT\n")
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
	if err := c.svc().RememberKey(c.ctx, c.dev()); err != nil {
		return fmt.Errorf("remember this key: %w", err)
	}
	tag := c.dev().Tag
	if c.json {
		out := keyJSON{Fingerprint: tag, AddedAt: stamp(c.svc().Now()), Method: "ssh", Current: true, Remembered: true}
		if keys, err := c.svc().Keys(c.ctx, c.dev()); err == nil {
			for _, k := range keys {
				if k.Current {
					out.AddedAt, out.Method = stamp(k.Added), k.Method
				}
			}
		}
		return c.emit(out)
	}
	c.printf("Remembered this connection's key (%s) for your account. After a sign-out, `signin --key` signs\n"+
		"this device back in without a code. Your addresses are told.\n", inert.String(tag))
	return nil
}

func runKeysRemove(c *call) error {
	fp := c.args[0]
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp // as `keys` shows them, or without the prefix
	}
	if err := c.svc().ForgetKey(c.ctx, c.dev(), fp); err != nil {
		return fmt.Errorf("forget the key: %w", err)
	}
	if c.json {
		return c.emit(keyJSON{Fingerprint: fp, Current: fp == c.dev().Tag, Remembered: false})
	}
	c.printf("Forgot key %s: it no longer signs in to your account. A device signed in with it stays signed\n"+
		"in; `signout --everywhere` signs every device out.\n", inert.String(fp))
	return nil
}
