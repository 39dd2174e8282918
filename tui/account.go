package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/attest-dev/attest/flows"
	"github.com/attest-dev/attest/tui/inert"
)

// account shows what the account holds: its nickname, its stars and the
// addresses it has proved. It is built in sections so that phone numbers,
// SSH keys and step-up can join as sections of their own.
type account struct {
	c             *common
	width, height int
}

func newAccount(c *common) *account { return &account{c: c} }

func (a *account) Init() tea.Cmd             { return nil }
func (a *account) Update(tea.Msg) tea.Cmd    { return nil } // it shows c.visitor, which the root keeps fresh
func (a *account) SetSize(width, height int) { a.width, a.height = width, height }
func (a *account) Title() string             { return "account" }
func (a *account) Focused() bool             { return false }
func (a *account) Keys() helpKeys            { return helpKeys{full: [][]key.Binding{}} }

func (a *account) View() string {
	st := a.c.st
	return strings.Join([]string{
		st.heading.Render("Account"),
		a.profile(),
		st.heading.Render("Addresses") + "  " + st.faint.Render("what you have proved you control"),
		a.addresses(),
	}, "\n\n")
}

func (a *account) profile() string {
	st := a.c.st
	v := a.c.visitor
	now := a.c.svc.Now()
	f := fields{st: st, width: a.width}
	if v.Nickname != "" {
		f.add("Nickname", inert.String(v.Nickname))
	} else {
		f.add("Nickname", st.faint.Render("none yet (set one on home)"))
	}
	var names []string
	for _, it := range a.c.svc.Catalogue() {
		for _, id := range v.Stars {
			if id == it.ID {
				names = append(names, inert.String(it.Name))
			}
		}
	}
	if len(names) > 0 {
		f.add("Stars", strings.Join(names, ", "))
	} else {
		f.add("Stars", st.faint.Render("none"))
	}
	if !v.Since.IsZero() {
		f.add("This device", fmt.Sprintf("signed in by %s, %s", inert.String(v.Method), flows.When(v.Since, now)))
	}
	return f.String()
}

func (a *account) addresses() string {
	st := a.c.st
	v := a.c.visitor
	now := a.c.svc.Now()
	if len(v.Addresses) == 0 {
		return st.faint.Render("none")
	}
	w := 0
	for _, ad := range v.Addresses {
		w = max(w, lipgloss.Width(inert.String(ad.Display)))
	}
	var out []string
	for _, ad := range v.Addresses {
		name := inert.String(ad.Display)
		var state string
		if ad.Confirmed {
			state = st.ok.Render("confirmed") + st.faint.Render(fmt.Sprintf(" by %s, %s", inert.String(ad.Method), flows.When(ad.ConfirmedAt, now)))
		} else {
			state = st.warn.Render("not confirmed") + st.faint.Render(", added "+flows.When(ad.Added, now))
		}
		kind := fmt.Sprintf("%-5s", inert.String(string(ad.Kind)))
		out = append(out, st.label.Render(kind)+"  "+name+strings.Repeat(" ", w-lipgloss.Width(name))+"  "+state)
	}
	return strings.Join(out, "\n")
}
