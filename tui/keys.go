package tui

import "charm.land/bubbles/v2/key"

// keyMap is every key the screens answer to, with its help text. Screens
// pick the bindings they use for the help bar; the root owns the global
// ones (help, back, quit).
type keyMap struct {
	Up, Down   key.Binding
	Star       key.Binding
	Nickname   key.Binding
	SignIn     key.Binding
	Account    key.Binding
	Devices    key.Binding
	SignOut    key.Binding
	Everywhere key.Binding
	KeySignIn  key.Binding // signed out, with a remembered key
	Link       key.Binding // signed out: link this device to an account

	// The sign-in screen's other ways: a link, a password.
	MagicLink   key.Binding
	UsePassword key.Binding
	UseWallet   key.Binding // the step-up screen: sign with a wallet of the account
	Provider    key.Binding

	// The account screen.
	Add      key.Binding
	Confirm  key.Binding
	Edit     key.Binding
	Remove   key.Binding // unlink an address, forget a key
	Remember key.Binding
	History  key.Binding
	Approve  key.Binding
	StepUp   key.Binding
	Password key.Binding // set or change the account's password
	TOTP     key.Binding // add or manage the authenticator app

	// The account split: the address this device signed in with becomes
	// an account of its own (home, after the sign-in; the account screen).
	Split key.Binding

	Submit key.Binding
	Save   key.Binding
	Cancel key.Binding
	Resend key.Binding
	Yes    key.Binding

	Back      key.Binding
	Ledger    key.Binding // the ledger panel, on every screen
	Help      key.Binding
	Quit      key.Binding
	ForceQuit key.Binding
}

// allKeys is the one key map, shared by every session: it is never changed
// (a screen that hides a key changes its own copy of the binding), and a
// copy in each session would cost a few KB of heap a screen, and as much
// stack in every function that took it by value.
var allKeys = newKeyMap()

func newKeyMap() *keyMap {
	return &keyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Star:       key.NewBinding(key.WithKeys("space", "enter"), key.WithHelp("space", "star")),
		Nickname:   key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "nickname")),
		SignIn:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sign in / sign up")),
		Account:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "account")),
		Devices:    key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "devices")),
		SignOut:    key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sign out")),
		Everywhere: key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "sign out everywhere")),
		// k is also up: where the key sign-in is offered, it wins, and
		// the help says so (home.Keys).
		KeySignIn: key.NewBinding(key.WithKeys("k"), key.WithHelp("k", "sign in with this key")),
		Link:      key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "link this device")),

		MagicLink:   key.NewBinding(key.WithKeys("ctrl+l"), key.WithHelp("ctrl+l", "send a link")),
		UsePassword: key.NewBinding(key.WithKeys("ctrl+p"), key.WithHelp("ctrl+p", "use a password")),
		UseWallet:   key.NewBinding(key.WithKeys("ctrl+w"), key.WithHelp("ctrl+w", "sign with your wallet")),
		Provider:    key.NewBinding(key.WithKeys("ctrl+o"), key.WithHelp("ctrl+o", "sign in with a provider")),

		Add:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add address")),
		Confirm:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "confirm")),
		Edit:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		Remove:   key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "unlink")),
		Remember: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "remember this key")),
		History:  key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "history")),
		Approve:  key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "approve a device")),
		StepUp:   key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "step up")),
		Password: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "set a password")),
		TOTP:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "authenticator app")),

		Split: key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "make it an account of its own")),

		Submit: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		Save:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "save")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		Resend: key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "new code")),
		Yes:    key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),

		Back: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		// L types an L into a text field; ctrl+g opens the ledger from
		// there too.
		Ledger:    key.NewBinding(key.WithKeys("L", "ctrl+g"), key.WithHelp("L", "ledger")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "more")),
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	}
}

// with returns b with other help text, for a screen whose use of a key
// reads differently ("enter" sends on one screen and checks on another).
func with(b key.Binding, keyText, desc string) key.Binding {
	b.SetHelp(keyText, desc)
	return b
}

// helpKeys is what a help bar shows: a short line and, with ?, columns.
type helpKeys struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding  { return h.short }
func (h helpKeys) FullHelp() [][]key.Binding { return h.full }
