package commands

import (
	"fmt"
	"slices"
	"strings"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/internal/cli"
	"github.com/attest-dev/attest/internal/inert"
)

// starJSON is what `star --json ITEM` and `unstar --json ITEM` print.
type starJSON struct {
	Item    string   `json:"item"`    // the item's id
	Starred bool     `json:"starred"` // whether it is starred now
	Stars   []string `json:"stars"`   // every starred item's id
}

// itemJSON is one line of `stars --json`.
type itemJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Note    string `json:"note"`
	Starred bool   `json:"starred"`
}

func runStar(c *call) error {
	if len(c.Args) == 0 {
		return runStars(c)
	}
	return setStar(c, true)
}

func runUnstar(c *call) error { return setStar(c, false) }

func setStar(c *call, on bool) error {
	change, what := c.Env.Service.Star, "star"
	if !on {
		change, what = c.Env.Service.Unstar, "unstar"
	}
	v, err := change(c.Ctx, c.Env.Device, c.Args[0])
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, quote(c.Args[0]), err)
	}
	// The flows accepted the item, so the catalogue has it.
	it := findItem(c.Env.Service.Catalogue(), c.Args[0])
	if c.JSON {
		return c.Emit(starJSON{Item: it.ID, Starred: on, Stars: cli.NonNil(v.Stars)})
	}
	if on {
		c.Printf("Starred %s.", inert.String(it.Name))
	} else {
		c.Printf("Unstarred %s.", inert.String(it.Name))
	}
	c.Printf(" Your stars: %s.\n", orNone(starNames(c.Env.Service, v.Stars), "none"))
	return nil
}

// findItem finds an item as the flows do: by id or by name, in any case.
func findItem(catalogue []flows.Item, input string) flows.Item {
	id := strings.ToLower(strings.TrimSpace(input))
	for _, it := range catalogue {
		if it.ID == id || strings.EqualFold(it.Name, id) {
			return it
		}
	}
	return flows.Item{ID: input, Name: input}
}

func runStars(c *call) error {
	v, err := c.Env.Service.Visit(c.Ctx, c.Env.Device)
	if err != nil {
		return fmt.Errorf("read your stars: %w", err)
	}
	catalogue := c.Env.Service.Catalogue()
	if c.JSON {
		for _, it := range catalogue {
			if err := c.Emit(itemJSON{ID: it.ID, Name: it.Name, Note: it.Note, Starred: slices.Contains(v.Stars, it.ID)}); err != nil {
				return err
			}
		}
		return nil
	}
	var rows [][]string
	for _, it := range catalogue {
		mark := " "
		if slices.Contains(v.Stars, it.ID) {
			mark = "★"
		}
		rows = append(rows, []string{mark + " " + inert.String(it.Name), inert.String(it.Note)})
	}
	if err := cli.Columns(c.Stdout, rows); err != nil {
		return err
	}
	c.Printf("\nStar one with: star NAME. Remove a star with: unstar NAME.\n")
	return nil
}
