package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Errors that classify a rejected setting; every *Error wraps one of them.
var (
	// ErrUnknownKey: the file or a HAYATE_* variable names no key.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrBadValue: the value does not parse, is out of range, or breaks a
	// rule that ties keys together.
	ErrBadValue = errors.New("config: bad value")
	// ErrSyntax: a file line is neither blank, a comment nor "key = value".
	ErrSyntax = errors.New("config: syntax error")
	// ErrDuplicateKey: the file sets a key twice.
	ErrDuplicateKey = errors.New("config: duplicate key")
)

// Error is one rejected setting.
type Error struct {
	Line   int    // 1-based line of the config file; 0 when not from the file
	Env    string // the environment variable, when from the environment
	Key    string // the key as written (lower case for an environment variable)
	Err    error  // ErrUnknownKey, ErrBadValue, ErrSyntax or ErrDuplicateKey
	Reason string // what is wrong with the value, e.g. `"abc" is not a port (1-65535)`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Env != "" {
		b.WriteString(e.Env)
		b.WriteString(": ")
	}
	switch e.Err {
	case ErrUnknownKey:
		b.WriteString("unknown key ")
		b.WriteString(strconv.Quote(e.Key))
		if s := suggest(e.Key); s != "" {
			b.WriteString(" (did you mean ")
			b.WriteString(strconv.Quote(s))
			b.WriteString("?)")
		}
	default:
		// The variable's name already names the key.
		if e.Key != "" && e.Env == "" {
			b.WriteString(e.Key)
			b.WriteString(": ")
		}
		b.WriteString(e.Reason)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load returns Default overridden by the file at path ("" means no file),
// then by the HAYATE_* variables of environ (entries "NAME=value", as from
// os.Environ). A HAYATE_* variable that names no key is an error, like an
// unknown key in the file. The result is checked with Validate. On error the
// returned error joins one *Error per problem found.
func Load(path string, environ []string) (Config, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: reading the config file: %w", err)
		}
	}
	return load(data, environ)
}

// maxErrors bounds how many problems one Load reports.
const maxErrors = 20

func load(data []byte, environ []string) (Config, error) {
	c := Default()
	var errs []error
	add := func(e *Error) {
		if len(errs) < maxErrors {
			errs = append(errs, e)
		}
	}

	firstLine := make(map[string]int) // key → the line that set it
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		line = stripComment(strings.TrimSuffix(line, "\r"))
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			add(&Error{Line: lineNo, Err: ErrSyntax,
				Reason: quoteShort(line) + ` is not a "key = value" line`})
			continue
		}
		k := lookup(name)
		if k == nil {
			add(&Error{Line: lineNo, Key: name, Err: ErrUnknownKey})
			continue
		}
		if first, dup := firstLine[name]; dup {
			add(&Error{Line: lineNo, Key: name, Err: ErrDuplicateKey,
				Reason: "set again (first set on line " + strconv.Itoa(first) + ")"})
			continue
		}
		firstLine[name] = lineNo
		if reason := k.set(&c, strings.TrimSpace(value)); reason != "" {
			add(&Error{Line: lineNo, Key: name, Err: ErrBadValue, Reason: reason})
		}
	}

	for _, kv := range environ {
		env, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(env, EnvPrefix) {
			continue
		}
		name := strings.ToLower(env[len(EnvPrefix):])
		k := lookup(name)
		if k == nil {
			add(&Error{Env: env, Key: name, Err: ErrUnknownKey})
			continue
		}
		if reason := k.set(&c, strings.TrimSpace(value)); reason != "" {
			add(&Error{Env: env, Key: name, Err: ErrBadValue, Reason: reason})
		}
	}

	if len(errs) > 0 {
		// Validate would repeat complaints about values already refused.
		return Config{}, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// stripComment removes a comment ('#' at the start or after a space or tab)
// and the surrounding whitespace.
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
			break
		}
	}
	return strings.TrimSpace(line)
}

// quoteShort quotes s, cut to a length that fits in one log line.
func quoteShort(s string) string {
	const max = 60
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// suggest returns the key closest to name when it is a likely typo.
func suggest(name string) string {
	if len(name) > 64 {
		return ""
	}
	name = strings.ToLower(name)
	best, bestDist := "", 3 // at most two edits away
	for i := range keys {
		if d := editDistance(name, keys[i].name); d < bestDist {
			best, bestDist = keys[i].name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
