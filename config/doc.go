// Package config reads spoofguard's configuration: one TOML file whose
// keys form a public contract (docs, examples and administrators' files
// use them; keys may be added, never renamed). Loading is strict and
// complete: every unknown key, bad value and contradiction is reported at
// once, each with file, line and the dotted key, so an administrator
// fixes a file in one pass.
//
// Every value is parsed here, once, into the type its users need: the
// milter listen address into a Listen, the socket permissions into a file
// mode, durations, networks as prefixes, domain names normalised to
// lower-case A-labels. The engine (package policy) and the daemon
// (package milter) take these values as they are and parse nothing.
//
// The code is split by stage:
//
//	config.go    types, defaults, loading, lookups
//	decode.go    key positions and the lenient field-by-field decoder
//	check.go     validation and normalisation of decoded values
//	names.go     the syntax of host names, domain names, ports and paths
//	listen.go    the grammar of milter.listen
//	values.go    typed values of the daemon-only sections (file mode, log level)
//	keys.go      the list of accepted keys and "did you mean" hints
package config
