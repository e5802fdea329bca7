package uastats

import (
	"errors"
	"fmt"
)

// Validation and compaction of a report, in place of encoding/json's
// Compact (a scanner that calls a function for every byte): scanJSON checks
// the grammar of RFC 8259 with a loop over the bytes and counts the white
// space outside strings; a report without any (JSON.stringify's, the usual
// case) is copied as is, otherwise stripWhiteSpace copies it without. Both
// accept exactly what encoding/json.Valid accepts once the text is known to
// be UTF-8 (FuzzRecord compares them).

// errUnexpectedEnd: the text ends inside a value.
var errUnexpectedEnd = errors.New("unexpected end of JSON input")

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// strPlain marks the bytes that stand for themselves inside a string: not
// a control character, quote or backslash.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// Parser states of scanJSON.
const (
	stValue      = iota // a value must come
	stValueOrEnd        // just after '[': a value or ']'
	stKeyOrEnd          // just after '{': a key or '}'
	stKey               // after ',' in an object: a key
	stColon             // after a key
	stAfter             // after a value: ',', the container's end, or the end of the text
)

// scanJSON checks that b is one JSON value, white space around it allowed,
// and returns how many bytes of white space lie outside its strings. It
// does not check UTF-8.
func scanJSON(b []byte) (space int, err error) {
	var stackArr [64]byte // the open containers, '[' or '{'
	stack := stackArr[:0]
	state := stValue
	i := 0
	for i < len(b) {
		c := b[i]
		if isSpace(c) {
			space++
			i++
			continue
		}
		switch state {
		case stValue, stValueOrEnd:
			if c == ']' && state == stValueOrEnd {
				stack = stack[:len(stack)-1]
				state, i = stAfter, i+1
				continue
			}
			switch c {
			case '[', '{':
				if len(stack) == maxDepth {
					return 0, fmt.Errorf("nested deeper than %d at offset %d", maxDepth, i)
				}
				stack = append(stack, c)
				state, i = stValueOrEnd, i+1
				if c == '{' {
					state = stKeyOrEnd
				}
				continue
			case '"':
				i, err = scanString(b, i)
			case 't':
				i, err = scanLiteral(b, i, "true")
			case 'f':
				i, err = scanLiteral(b, i, "false")
			case 'n':
				i, err = scanLiteral(b, i, "null")
			default:
				i, err = scanNumber(b, i)
			}
			if err != nil {
				return 0, err
			}
			state = stAfter
		case stKeyOrEnd, stKey:
			if c == '}' && state == stKeyOrEnd {
				stack = stack[:len(stack)-1]
				state, i = stAfter, i+1
				continue
			}
			if c != '"' {
				return 0, badChar(c, i, "looking for the beginning of an object key")
			}
			if i, err = scanString(b, i); err != nil {
				return 0, err
			}
			state = stColon
		case stColon:
			if c != ':' {
				return 0, badChar(c, i, "after an object key")
			}
			state, i = stValue, i+1
		case stAfter:
			if len(stack) == 0 {
				return 0, badChar(c, i, "after the top-level value")
			}
			top := stack[len(stack)-1]
			switch {
			case c == ',':
				state = stValue
				if top == '{' {
					state = stKey
				}
			case c == ']' && top == '[', c == '}' && top == '{':
				stack = stack[:len(stack)-1]
			default:
				return 0, badChar(c, i, "after a value")
			}
			i++
		}
	}
	if state != stAfter || len(stack) != 0 {
		return 0, errUnexpectedEnd
	}
	return space, nil
}

func badChar(c byte, at int, where string) error {
	return fmt.Errorf("invalid character %q %s at offset %d", c, where, at)
}

// scanString checks the string that starts at b[i] ('"') and returns the
// offset after it.
func scanString(b []byte, i int) (int, error) {
	i++
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i == len(b) {
			return 0, errUnexpectedEnd
		}
		switch c := b[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 == len(b) {
				return 0, errUnexpectedEnd
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 {
					return 0, errUnexpectedEnd
				}
				for k := i + 2; k < i+6; k++ {
					if !isHex(b[k]) {
						return 0, badChar(b[k], k, "in a \\u escape")
					}
				}
				i += 6
			default:
				return 0, badChar(b[i+1], i+1, "in a string escape")
			}
		default:
			return 0, badChar(c, i, "in a string (a control character)")
		}
	}
}

// scanLiteral checks that b[i:] starts with lit (true, false, null).
func scanLiteral(b []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k == len(b) {
			return 0, errUnexpectedEnd
		}
		if b[i+k] != lit[k] {
			return 0, badChar(b[i+k], i+k, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// scanNumber checks the number that starts at b[i]: -?(0|[1-9][0-9]*)
// (\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns the offset after it.
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func(what string) error {
		if i == len(b) {
			return errUnexpectedEnd
		}
		if !isDigit(b[i]) {
			return badChar(b[i], i, what)
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		return nil
	}
	if i == len(b) {
		return 0, errUnexpectedEnd
	}
	switch {
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	case i == start:
		return 0, badChar(b[i], i, "looking for the beginning of a value")
	default:
		return 0, badChar(b[i], i, "in a number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if err := digits("after a decimal point"); err != nil {
			return 0, err
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if err := digits("in an exponent"); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// stripWhiteSpace appends to dst the valid JSON text b without the white
// space outside its strings.
func stripWhiteSpace(dst, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, b[start:i]...)
			start = i + 1
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return append(dst, b[start:]...)
}
