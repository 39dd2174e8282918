package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/attest-dev/attest/server/operator"
)

// The control socket lets operator commands (attest verify, backup,
// facts, ...) run inside a running server, which holds the ledger's lock.
// It is a Unix socket in the data directory with mode 0600: whoever can
// use it could read the ledger file anyway.
//
// The protocol is one JSON request line ({"args": [...]}) answered by
// frames: a type byte ('o' stdout, 'e' stderr, 'x' exit status), a
// big-endian uint32 length, and the data.

type controlRequest struct {
	Args []string `json:"args"`
}

// ListenControl opens the control socket at path. A socket file left by a
// server that died is removed; one that still answers means another
// server is running.
func ListenControl(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s answers: another attest server is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict control socket: %w", err)
	}
	return ln, nil
}

// ServeControl answers operator commands until ctx ends.
func (s *Server) ServeControl(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("operator command panicked", "panic", r)
				}
			}()
			s.serveControlConn(ctx, c)
		}()
	}
}

// The bounds of one control request: its line, and its arguments (no
// operator command takes more than a few; the line alone would let
// tens of thousands of empty ones through).
const (
	maxControlLine = 64 << 10
	maxControlArgs = 256
)

// refuseControl answers a request that cannot run: the reason on stderr,
// and exit status 2, as for any command line that cannot run.
func (s *Server) refuseControl(fw *frameWriter, why string) {
	_ = fw.frame('e', []byte("attest: "+why+"\n"))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 2)
	_ = fw.frame('x', b[:])
	s.log.Warn("operator command refused", "why", why)
}

func (s *Server) serveControlConn(ctx context.Context, c net.Conn) {
	var req controlRequest
	fw := &frameWriter{w: c}
	line, err := bufio.NewReader(io.LimitReader(c, maxControlLine)).ReadBytes('\n')
	switch {
	case errors.Is(err, io.EOF) && len(line) == maxControlLine:
		s.refuseControl(fw, fmt.Sprintf("the command line is longer than %d KiB", maxControlLine>>10))
		return
	case err != nil:
		return // the client left before sending a whole line: nobody to answer
	case json.Unmarshal(line, &req) != nil:
		s.refuseControl(fw, "the request is not a JSON line {\"args\": [...]}")
		return
	case len(req.Args) > maxControlArgs:
		s.refuseControl(fw, fmt.Sprintf("%d arguments; a command takes at most %d", len(req.Args), maxControlArgs))
		return
	}
	code := operator.Run(ctx, operator.Env{
		Ledger:  s.led,
		Service: s.svc,
		Stdout:  fw.stream('o'),
		Stderr:  fw.stream('e'),
	}, req.Args)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	_ = fw.frame('x', b[:])
	s.log.Info("operator command", "command", inertWord(firstArg(req.Args)), "exit", code)
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// frameWriter multiplexes stdout and stderr onto one connection.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) frame(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(p)
	return err
}

type streamWriter struct {
	f    *frameWriter
	kind byte
}

func (f *frameWriter) stream(kind byte) io.Writer { return streamWriter{f: f, kind: kind} }

func (s streamWriter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 1<<20)
		if err := s.f.frame(s.kind, rest[:n]); err != nil {
			return len(p) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// ErrNoServer is returned by RunRemote when no server answers on the
// control socket.
var ErrNoServer = errors.New("no attest server answers on the control socket")

// RunRemote runs an operator command inside the server listening on the
// control socket at path, copying its output to stdout and stderr, and
// returns its exit status.
func RunRemote(path string, args []string, stdout, stderr io.Writer) (int, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return 0, ErrNoServer
	}
	defer c.Close()
	req, _ := json.Marshal(controlRequest{Args: args})
	if _, err := c.Write(append(req, '\n')); err != nil {
		return 0, fmt.Errorf("send to server: %w", err)
	}
	r := bufio.NewReader(c)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 1, fmt.Errorf("the server ended the command early: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		switch hdr[0] {
		case 'o', 'e':
			w := stdout
			if hdr[0] == 'e' {
				w = stderr
			}
			if _, err := io.CopyN(w, r, int64(n)); err != nil {
				return 1, fmt.Errorf("copy output: %w", err)
			}
		case 'x':
			var b [4]byte
			if n != 4 {
				return 1, errors.New("malformed exit frame from server")
			}
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return 1, err
			}
			return int(binary.BigEndian.Uint32(b[:])), nil
		default:
			return 1, fmt.Errorf("unknown frame %q from server", hdr[0])
		}
	}
}
