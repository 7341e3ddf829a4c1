package milter

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"runtime/debug"
	"sync"
	"unsafe"

	gomilter "github.com/d--j/go-milter"
)

// connServer serves each MTA connection with go-milter's session code
// but in a goroutine of its own, under recover. go-milter's Server.Serve
// starts the goroutine for each connection itself, where no recover of
// ours can reach, so a panic anywhere in its decoding or bookkeeping
// would end the whole daemon; here it ends that connection alone, with
// a logged stack. go-milter (v0.10.2) has no exported per-connection
// entry point, so its own one is reached by //go:linkname; sessionFits
// checks at start-up that the session type is laid out as libSession
// says, and otherwise the daemon falls back to Server.Serve.
type connServer struct {
	lib      *gomilter.Server
	panicked func(r any, stack []byte)

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	closing  bool
	sessions sync.WaitGroup
}

// libSession mirrors go-milter's serverSession (v0.10.2) field by field.
type libSession struct {
	server      *gomilter.Server
	version     uint32
	actions     gomilter.OptAction
	protocol    gomilter.OptProtocol
	maxDataSize gomilter.DataSize
	conn        net.Conn
	macros      unsafe.Pointer
	backendId   uint64
	mu          sync.Mutex
	modifier    unsafe.Pointer
}

//go:linkname libSessionInit github.com/d--j/go-milter.(*serverSession).init
func libSessionInit(s *libSession, server *gomilter.Server, conn net.Conn, version uint32, actions gomilter.OptAction, protocol gomilter.OptProtocol)

//go:linkname libHandleCommands github.com/d--j/go-milter.(*serverSession).HandleMilterCommands
func libHandleCommands(s *libSession)

// sessionFits reports whether go-milter's session type has the fields,
// offsets and size libSession assumes. The type is found through the
// Server's map of active sessions.
func sessionFits() bool {
	f, ok := reflect.TypeFor[gomilter.Server]().FieldByName("activeSessions")
	if !ok || f.Type.Kind() != reflect.Map || f.Type.Key().Kind() != reflect.Pointer {
		return false
	}
	real, mine := f.Type.Key().Elem(), reflect.TypeFor[libSession]()
	if real.Kind() != reflect.Struct || real.Size() != mine.Size() || real.NumField() != mine.NumField() {
		return false
	}
	for i := range mine.NumField() {
		r, m := real.Field(i), mine.Field(i)
		if r.Name != m.Name || r.Offset != m.Offset || r.Type.Size() != m.Type.Size() {
			return false
		}
	}
	return true
}

// Serve accepts connections until Close or Shutdown.
func (s *connServer) Serve(ln net.Listener) error {
	if !sessionFits() {
		return s.lib.Serve(ln)
	}
	if !s.track(ln) {
		return gomilter.ErrServerClosed
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			return err
		}
		if !s.add(conn) {
			conn.Close()
			continue
		}
		go s.serveConn(conn)
	}
}

// serveConn runs go-milter's session on conn. go-milter's own deferred
// calls (the milter's Cleanup, closing the connection) run during a
// panic as they do on return; conn is closed here again in case the
// panic came before them.
func (s *connServer) serveConn(conn net.Conn) {
	defer s.remove(conn)
	defer func() {
		if r := recover(); r != nil {
			conn.Close()
			s.panicked(r, debug.Stack())
		}
	}()
	var ls libSession
	libSessionInit(&ls, s.lib, conn, gomilter.MaxServerProtocolVersion, 0, 0)
	libHandleCommands(&ls)
}

func (s *connServer) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ln = ln
	return !s.closing
}

func (s *connServer) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *connServer) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.sessions.Done()
}

func (s *connServer) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// stopAccepting closes the listener; go-milter's Server is shut down as
// well, which tells its sessions to end at the MTA's next SMFIC_QUIT_NC.
func (s *connServer) stopAccepting() error {
	s.lib.Shutdown(context.Background()) // it tracks no listener or session of ours: returns at once
	s.mu.Lock()
	s.closing = true
	ln := s.ln
	s.mu.Unlock()
	if ln != nil {
		return ln.Close()
	}
	return nil
}

// closeConns ends every session still open.
func (s *connServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Shutdown stops accepting and waits for the sessions to end, at most
// until ctx is done; then it closes the rest and returns ctx's error.
func (s *connServer) Shutdown(ctx context.Context) error {
	if !sessionFits() {
		return s.lib.Shutdown(ctx)
	}
	err := s.stopAccepting()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.closeConns()
		return ctx.Err()
	}
}

// Close stops accepting and closes every session at once.
func (s *connServer) Close() error {
	if !sessionFits() {
		return s.lib.Close()
	}
	err := s.stopAccepting()
	s.closeConns()
	return err
}

// sessionPanicked logs a panic that ended a connection.
func (d *Daemon) sessionPanicked(r any, stack []byte) {
	d.current().log.Error("internal error: MTA connection ended", "panic", fmt.Sprint(r), "stack", string(stack))
}
