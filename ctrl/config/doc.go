// Package config holds Hayate's settings: their names, types, defaults and
// documentation, and the loader that reads them from a sora.conf-style file
// and from the environment.
//
// # Model
//
// One table (keys.go) describes every key: its name, its default written as
// it would appear in a file, a one-line meaning, and how to parse and print
// it. Default, Load, Keys and the generated keys.md all come from that table,
// so a key cannot be documented without being parsed or the other way round.
//
// Load starts from Default, applies the file (if any), then the environment
// (HAYATE_<KEY_IN_UPPER_CASE>, which wins over the file), then checks the
// result as a whole (Validate). Every rejected setting is reported, not only
// the first: the returned error joins one *Error per problem, each naming the
// key and, for the file, the line. errors.Is works with the sentinel errors
// (ErrUnknownKey, ErrBadValue, ErrSyntax, ErrDuplicateKey).
//
// File format (sora.conf style):
//
//	# whole-line comment
//	signaling_port = 5000     # trailing comment, after whitespace
//	public_ip_list = 192.0.2.1, 192.0.2.2
//	pong_timeout = 30 s       # also 30s, 500ms, 5 min, 1h
//	sdk_dir = /opt/sdk#1      # '#' not preceded by whitespace is part of the value
//
// Strings are unquoted. A key may appear once per file. Ports read from a
// file or the environment must be 1-65535; a Config built in Go may use port
// 0 (pick a free port), which is what tests do.
//
// # Concurrency
//
// Config is a plain value; the functions of this package keep no state and
// may be called from any goroutine.
package config
