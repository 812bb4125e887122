package api

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/healthcare-prediction/api/internal/scoring"
	"github.com/healthcare-prediction/api/internal/token"
)

// scanObject reads data as exactly one JSON object, strictly (RFC 8259:
// no NaN, Inf, hex or 1_000; nothing after the value; nesting at most
// maxDepth), refuses a name repeated within any object at any depth (where
// encoding/json would silently keep the last), and calls visit with each
// of the object's members in order: the decoded name and the raw value,
// both only valid during the call's request. One pass over the bytes, far
// cheaper than json.Decoder.Token, on the path of every prediction.
func scanObject(data []byte, visit func(name, value []byte)) error {
	s := scanner{data: data}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return newProblem(kindMalformed, "the body must be a JSON object")
	}
	if err := s.object(0, visit); err != nil {
		return err
	}
	s.space()
	if s.pos != len(s.data) {
		return newProblem(kindMalformed, "the body must hold one JSON value and nothing after it")
	}
	return nil
}

type scanner struct {
	data []byte
	pos  int
}

var errMalformed = newProblem(kindMalformed, "the body is not well-formed JSON")

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if depth > maxDepth {
		return newProblem(kindMalformed, "the body is nested too deeply")
	}
	s.space()
	if s.pos >= len(s.data) {
		return errMalformed
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth, nil)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
			s.pos += len(lit)
			return nil
		}
	}
	return errMalformed
}

// object scans an object at s.pos; with visit set, it reports the members.
func (s *scanner) object(depth int, visit func(name, value []byte)) error {
	s.pos++ // '{'
	// Names seen so far, for duplicates; most objects' fit on the stack.
	var small [16][]byte
	names := small[:0]
	var seen map[string]bool // only for large objects, to stay linear
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return errMalformed
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		if seen != nil {
			if seen[string(name)] {
				return duplicate(string(name))
			}
			seen[string(name)] = true
		} else {
			for _, n := range names {
				if string(n) == string(name) {
					return duplicate(string(name))
				}
			}
			names = append(names, name)
			if len(names) > 32 {
				seen = make(map[string]bool, 64)
				for _, n := range names {
					seen[string(n)] = true
				}
			}
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return errMalformed
		}
		s.pos++
		s.space()
		start := s.pos
		if err := s.value(depth + 1); err != nil {
			return err
		}
		if visit != nil {
			visit(name, s.data[start:s.pos])
		}
		s.space()
		if s.pos >= len(s.data) {
			return errMalformed
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return errMalformed
		}
	}
}

func duplicate(name string) error {
	return newProblem(kindDuplicateKey, "the key "+token.Printable(name)+" appears more than once in one object")
}

func (s *scanner) array(depth int) error {
	s.pos++ // '['
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.value(depth + 1); err != nil {
			return err
		}
		s.space()
		if s.pos >= len(s.data) {
			return errMalformed
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return errMalformed
		}
	}
}

// str scans a string and returns its decoded text: a slice of data when
// the string has no escapes, so scanning allocates nothing.
func (s *scanner) str() ([]byte, error) {
	start := s.pos
	s.pos++ // '"'
	escaped := false
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			raw := s.data[start:s.pos]
			if !escaped {
				return raw[1 : len(raw)-1], nil
			}
			var text string
			if json.Unmarshal(raw, &text) != nil {
				return nil, errMalformed
			}
			return []byte(text), nil
		case c == '\\':
			escaped = true
			if s.pos+1 >= len(s.data) {
				return nil, errMalformed
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) || !isHex4(s.data[s.pos+2:s.pos+6]) {
					return nil, errMalformed
				}
				s.pos += 6
			default:
				return nil, errMalformed
			}
		case c < 0x20:
			return nil, errMalformed
		case c < utf8.RuneSelf:
			s.pos++
		default:
			_, size := utf8.DecodeRune(s.data[s.pos:])
			s.pos += size
		}
	}
	return nil, errMalformed
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number scans a JSON number with scoring's grammar, the one the models
// read their inputs with.
func (s *scanner) number() error {
	n := scoring.NumberLen(s.data[s.pos:])
	if n == 0 {
		return errMalformed
	}
	s.pos += n
	return nil
}
