package commands

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// linkJSON is the first line of `link --json`: the code to approve.
type linkJSON struct {
	Code      string     `json:"code"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// linkedJSON is the second line of `link --wait --json`, once the code is
// approved. (When it expires instead, the second line is the error.)
type linkedJSON struct {
	Linked  bool        `json:"linked"` // false: signed in, but some other way than this link
	Visitor visitorJSON `json:"visitor"`
}

func bindLink(fs *flag.FlagSet) func(*call) error {
	wait := fs.Bool("wait", false, "wait until the code is approved (exit 0) or expires (exit 1)")
	return func(c *call) error { return runLink(c, *wait) }
}

func runLink(c *call, wait bool) error {
	var w *flows.Watcher
	if wait {
		// Watch before asking, so that no approval can slip in between
		// the request and the watch: a poke waits in the channel.
		w = c.Env.Service.Watch(c.Env.Device.Tag)
		defer w.Stop()
	}
	link, err := c.Env.Service.RequestDeviceLink(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("ask for a link code: %w", err)
	}
	if c.JSON {
		if err := c.Emit(linkJSON{Code: link.Code, ExpiresAt: cli.Stamp(link.Expires)}); err != nil {
			return err
		}
	} else {
		c.Printf("Link code: %s (it expires at %s).\n", inert.String(link.Code), when(link.Expires, c.Env.Service.Now()))
		c.Printf("On a device signed in to your account, run: approve %s\n", inert.String(link.Code))
		if wait {
			c.Printf("Waiting for it to be approved…\n")
		} else {
			c.Printf("Then this device is signed in: run `whoami` here to see it, or `link --wait` next time to wait.\n")
		}
	}
	if !wait {
		return nil
	}
	return waitForLink(c, w, link)
}

// waitForLink waits until the device is signed in (the code was
// approved), the code expires, or the connection ends. It never polls:
// it wakes on the watcher's pokes, which every change to the device
// sends, and re-reads the device from the ledger each time.
//
// The expiry is waited for on the service's clock, so moving a test
// clock past it ends the wait as the expiry itself would.
func waitForLink(c *call, w *flows.Watcher, link flows.DeviceLink) error {
	expired, release := c.Env.Service.Reached(link.Expires)
	defer release()
	for {
		done, err := linkDone(c, link, false)
		if done || err != nil {
			return err
		}
		select {
		case <-w.C:
		case <-expired:
			// The code is dead: one last look, in case the approval landed
			// just before it, then give up.
			_, err := linkDone(c, link, true)
			return err
		case <-c.Ctx.Done():
			return fmt.Errorf("stopped waiting for the link code to be approved: %w", context.Cause(c.Ctx))
		}
	}
}

// linkDone reads the device: signed in, it reports so and is done;
// otherwise, past the expiry (or once the clock reached it, expired), it reports the
// expiry as the error.
func linkDone(c *call, link flows.DeviceLink, expired bool) (bool, error) {
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return true, fmt.Errorf("read who you are: %w", err)
	}
	if v.Account || v.Waiting != nil {
		return true, printLinked(c, v)
	}
	now := c.Env.Service.Now()
	if expired || !now.Before(link.Expires) {
		return true, &flows.Problem{Code: flows.ProblemCodeUsed,
			Msg: fmt.Sprintf("Not linked: the code expired at %s. Run `link --wait` for a new one.", when(link.Expires, now))}
	}
	return false, nil
}

func printLinked(c *call, v flows.Visitor) error {
	linked := v.Method == "device-link"
	if c.JSON {
		return c.Emit(linkedJSON{Linked: linked, Visitor: toVisitorJSON(v)})
	}
	if printWaiting(c, v) {
		return nil
	}
	who := orNone(inert.String(v.Nickname), "your account")
	if linked {
		c.Printf("Linked: signed in as %s. This device's key is remembered: `signin --key` signs it back in.\n", who)
	} else {
		c.Printf("Signed in as %s, %s rather than by the link code.\n", who, method(v.Method))
	}
	return nil
}

// approveJSON is what `approve --json` prints.
type approveJSON struct {
	Approved bool   `json:"approved"`
	Device   string `json:"device"` // the new device's tag (its key's fingerprint)
}

func runApprove(c *call) error {
	dev, err := c.Env.Service.ApproveDeviceLink(c.Ctx, c.Env.Device, strings.Join(c.Args, " "))
	if err != nil {
		return fmt.Errorf("approve the link code: %w", err)
	}
	if c.JSON {
		return c.Emit(approveJSON{Approved: true, Device: dev})
	}
	c.Printf("Approved: the device %s is now signed in to your account, and its key is remembered.\n", inert.String(dev))
	return nil
}
