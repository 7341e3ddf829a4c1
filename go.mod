module github.com/spoofguard/spoofguard

go 1.26.0

require (
	blitiri.com.ar/go/spf v1.6.0
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/d--j/go-milter v0.10.2
	github.com/emersion/go-msgauth v0.7.0
	github.com/miekg/dns v1.1.73
	github.com/pelletier/go-toml/v2 v2.4.3
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.49.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/emersion/go-message v0.18.2 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
