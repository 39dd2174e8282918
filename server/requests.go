package server

import (
	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Bounds on the environment a client may set on a session. charm.land/ssh
// appends every "env" request to the session with no limit until the
// shell starts, so a client could grow a session's memory for as long as
// it kept sending; attest reads only NO_COLOR, TERM and the like.
const (
	maxEnvVars  = 32
	maxEnvBytes = 8 << 10
)

// boundRequests refuses a session's "env" requests past maxEnvVars
// variables or maxEnvBytes of payload, before charm.land/ssh stores them.
// Every other request passes through unchanged and in order.
func boundRequests(next ssh.ChannelHandler) ssh.ChannelHandler {
	return func(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
		next(srv, conn, envBoundChannel{ch}, ctx)
	}
}

type envBoundChannel struct{ gossh.NewChannel }

func (c envBoundChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := c.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		vars, size := 0, 0
		for req := range reqs {
			if req.Type == "env" {
				vars, size = vars+1, size+len(req.Payload)
				if vars > maxEnvVars || size > maxEnvBytes {
					if req.WantReply {
						_ = req.Reply(false, nil)
					}
					continue
				}
			}
			out <- req
		}
	}()
	return ch, out, nil
}
