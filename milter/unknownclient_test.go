package milter

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
)

// A session the MTA gives no client address for — an unknown or unix
// address family (Sendmail's local SMTP session, a unix socket), or MAIL
// sent before CONNECT — is not trusted: an own-domain envelope sender from
// it is refused at MAIL FROM like one from the Internet.
func TestDaemonClientWithoutAddress(t *testing.T) {
	w := newDaemonWorld(t, "")
	addr := w.d.Addr().String()
	mail := func(t *testing.T, connect func(s *gomilter.ClientSession) error) *gomilter.Action {
		t.Helper()
		s, err := gomilter.NewClient("tcp", addr, gomilter.WithReadTimeout(15*time.Second)).Session(gomilter.NewMacroBag())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := connect(s); err != nil {
			t.Fatal(err)
		}
		a, err := s.Mail("root@edge.example", "")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for name, connect := range map[string]func(s *gomilter.ClientSession) error{
		"unknown family": func(s *gomilter.ClientSession) error {
			return connectAs(s, gomilter.FamilyUnknown, "")
		},
		"unix family": func(s *gomilter.ClientSession) error {
			return connectAs(s, gomilter.FamilyUnix, "/run/smtp.sock")
		},
	} {
		t.Run(name, func(t *testing.T) {
			if a := mail(t, connect); !isReject(a, 550) {
				t.Errorf("MAIL FROM:<root@edge.example> answered %+v, want a 550 reject", a)
			}
		})
	}
	// go-milter's client keeps the order of events, so MAIL before
	// CONNECT is written on the wire.
	t.Run("MAIL before CONNECT", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		reply := func(p []byte) (byte, string) {
			t.Helper()
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
			var n [4]byte
			if _, err := io.ReadFull(c, n[:]); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, binary.BigEndian.Uint32(n[:]))
			if _, err := io.ReadFull(c, b); err != nil || len(b) == 0 {
				t.Fatalf("reply %q: %v", b, err)
			}
			return b[0], string(b[1:])
		}
		reply(packet('O', "\x00\x00\x00\x06\x00\x00\x01\xff\x00\x00\x00\x00"))
		if code, text := reply(packet('M', "<root@edge.example>\x00")); code != 'y' || !strings.HasPrefix(text, "550 ") {
			t.Errorf("MAIL FROM:<root@edge.example> answered %c %q, want a 550 reply", code, text)
		}
	})
	// Postfix's local submission (non_smtpd_milters) arrives as 127.0.0.1,
	// which networks.trusted holds by default.
	t.Run("Postfix local submission", func(t *testing.T) {
		a := mail(t, func(s *gomilter.ClientSession) error {
			return connectAs(s, gomilter.FamilyInet, "127.0.0.1")
		})
		if a.Type != gomilter.ActionContinue {
			t.Errorf("MAIL FROM answered %+v, want continue", a)
		}
	})
}

// connectAs sends CONNECT and HELO "localhost" with the given family.
func connectAs(s *gomilter.ClientSession, family gomilter.ProtoFamily, addr string) error {
	if _, err := s.Conn("localhost", family, 0, addr); err != nil {
		return err
	}
	_, err := s.Helo("localhost")
	return err
}
