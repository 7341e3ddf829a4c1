package config

// The grammar of milter.listen, shared by the configuration check and the
// daemon's listener so that the two can never disagree on what a value
// means. Two spellings are in use: Postfix's (inet:HOST:PORT,
// inet6:[ADDR]:PORT, unix:/PATH), which is ours, and libmilter's
// (inet:PORT@HOST, inet6:PORT@HOST, local:/PATH; smfi_setconn(3)), which
// administrators copy from OpenDKIM and OpenDMARC configurations.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Listen is a parsed milter.listen value.
type Listen struct {
	Network string // "tcp4", "tcp6" or "unix", as net.Listen takes it
	Address string // "host:port" (the host may be a name) or the socket path
}

// UnmarshalText parses milter.listen (ParseListen).
func (l *Listen) UnmarshalText(text []byte) error {
	v, err := ParseListen(string(text))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// MarshalText writes the canonical form (String).
func (l Listen) MarshalText() ([]byte, error) {
	return []byte(l.String()), nil
}

// listenForms lists the accepted spellings for error messages.
const listenForms = "want inet:HOST:PORT, inet6:[ADDR]:PORT or unix:/PATH " +
	"(libmilter's inet:PORT@HOST and local:/PATH work too)"

// ParseListen reads a milter listen address in Postfix's or libmilter's
// syntax. As in libmilter, inet:PORT without a host listens on every
// IPv4 interface (and inet6:PORT on every IPv6 one).
func ParseListen(s string) (Listen, error) {
	bad := func(why string) (Listen, error) {
		return Listen{}, fmt.Errorf("invalid listen address %s: %s", quote(s), why)
	}
	scheme, rest, _ := strings.Cut(s, ":")
	switch scheme {
	case "unix", "local":
		if err := socketPath(rest); err != nil {
			return bad(err.Error())
		}
		return Listen{"unix", rest}, nil
	case "inet", "inet6":
		host, port, err := listenHostPort(rest)
		if err != nil {
			return bad(err.Error())
		}
		if !validPort(port) {
			return bad("the port must be a number from 0 to 65535")
		}
		network, host, err := listenHost(scheme, host)
		if err != nil {
			return bad(err.Error())
		}
		return Listen{network, net.JoinHostPort(host, port)}, nil
	}
	return bad(listenForms)
}

// listenHostPort splits Postfix's HOST:PORT and libmilter's PORT@HOST and
// PORT. The host comes back without brackets; "" means every interface.
func listenHostPort(rest string) (host, port string, err error) {
	if p, h, ok := strings.Cut(rest, "@"); ok {
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if h == "" {
			return "", "", errors.New("nothing after the @: write the host, such as inet:8955@127.0.0.1, or leave out the @ to listen on every interface")
		}
		return h, p, nil
	}
	if validPort(rest) {
		return "", rest, nil
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", "", errors.New(listenForms)
	}
	host, port = rest[:i], rest[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1], port, nil
	}
	if strings.ContainsAny(host, ":[]") {
		return "", "", errors.New("an IPv6 address goes in brackets: inet6:[ADDR]:PORT")
	}
	if host == "" {
		return "", "", errors.New("the host is empty: write 127.0.0.1 (only this machine) or 0.0.0.0 (every interface)")
	}
	return host, port, nil
}

// listenHost picks the network for a host: an IPv6 address under inet:
// (as Postfix writes inet:[::1]:PORT) is IPv6; a name follows the scheme.
func listenHost(scheme, host string) (network, canonical string, err error) {
	a, err := netip.ParseAddr(host)
	switch {
	case host == "" && scheme == "inet":
		return "tcp4", "0.0.0.0", nil
	case host == "":
		return "tcp6", "::", nil
	case err == nil && a.Zone() != "":
		return "", "", errors.New("zones are not supported in the listen address")
	case err == nil && a.Is6() && !a.Is4In6():
		return "tcp6", a.String(), nil
	case err == nil && scheme == "inet6":
		return "", "", errors.New("inet6: takes an IPv6 address; write inet:HOST:PORT for IPv4")
	case err == nil:
		return "tcp4", a.Unmap().String(), nil
	case !hostName(host):
		return "", "", errors.New("the host is neither an IP address nor a host name")
	case scheme == "inet6":
		return "tcp6", host, nil
	}
	return "tcp4", host, nil
}

// String is the address in Postfix's syntax, the canonical form: what
// `config check` prints and what main.cf's smtpd_milters should say.
func (l Listen) String() string {
	switch l.Network {
	case "unix":
		return "unix:" + l.Address
	case "tcp6":
		return "inet6:" + l.Address
	case "tcp4":
		return "inet:" + l.Address
	}
	return ""
}

// Wildcard reports whether a TCP address listens on every interface.
func (l Listen) Wildcard() bool {
	host, _, err := net.SplitHostPort(l.Address)
	if l.Network == "unix" || err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}
