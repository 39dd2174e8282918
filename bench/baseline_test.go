package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/activeterm"
	bm "charm.land/wish/v2/bubbletea"
	"charm.land/wish/v2/logging"
)

// The baseline the screens are measured against (issue 14): the smallest
// Bubble Tea program worth serving, over Wish as its README shows it
// (the Bubble Tea, active-terminal and logging middleware, a generated
// ed25519 host key, any public key let in), on the same charm.land
// versions as attest. It shows a line of text and counts the keys
// pressed; q or ctrl+c quits. Like attest's screens it takes the whole
// window (the alternate screen), so both draw full frames.

// counter is the baseline's model.
type counter struct {
	keys          int
	width, height int
}

func (c *counter) Init() tea.Cmd { return nil }

func (c *counter) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.width, c.height = msg.Width, msg.Height
	case tea.KeyPressMsg:
		switch msg.String() {
		case "q", "ctrl+c":
			return c, tea.Quit
		}
		c.keys++
	}
	return c, nil
}

func (c *counter) View() tea.View {
	v := tea.NewView(fmt.Sprintf("A minimal Bubble Tea program over Wish.\n\nkeys: %d\n\nq quits", c.keys))
	v.AltScreen = true
	return v
}

// baselineReady is what the baseline shows once it is up.
const baselineReady = "keys: 0"

// serveBaseline serves the baseline on ln until ctx ends; its host key
// is made in dir.
func serveBaseline(ctx context.Context, ln net.Listener, dir string) error {
	srv, err := wish.NewServer(
		wish.WithHostKeyPath(filepath.Join(dir, "id_ed25519")),
		wish.WithPublicKeyAuth(func(ssh.Context, ssh.PublicKey) bool { return true }),
		wish.WithMiddleware(
			bm.Middleware(func(ssh.Session) (tea.Model, []tea.ProgramOption) { return &counter{}, nil }),
			activeterm.Middleware(),
			logging.Middleware(),
		),
	)
	if err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
		return err
	}
	return nil
}
