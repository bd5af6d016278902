package jose

import (
	"unicode/utf8"
)

// The fast path.
//
// Almost every JOSE header and JWT claims set is a flat JSON object: names
// without escapes, string values without escapes, integer numbers, booleans,
// null and, for "aud", roles and scopes, arrays of such scalars. For those
// documents the strict decoder's general machinery costs more than the rest
// of a verification besides the signature check itself. The scanner below
// reads exactly that subset in one pass, slicing every string of the result
// from the document rather than allocating it, and declines everything
// else: an escape, a control character, invalid UTF-8, a
// fraction or an exponent, a nested object, a duplicate name, trailing
// bytes, any syntax error. A declined document is then read by the strict
// decoder from the start, which decides whether it is valid and says why
// not. The fast path therefore never accepts a document the strict decoder
// refuses, and never reads one differently: FuzzFastPath checks both
// against each other.

// flatScanner reads the members of one flat JSON object from b. It reads a
// string, so that every string it returns is a slice of that one: a claims
// set costs one string allocation rather than one per string.
type flatScanner struct {
	b string
	i int
}

// begin skips leading whitespace and the opening brace; it reports false
// when b does not start with an object.
func (s *flatScanner) begin() bool {
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	return true
}

func (s *flatScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next reads the next member's name and the colon after it. It returns
// done at the closing brace of an object whose remaining bytes are only
// whitespace, and ok false when the document leaves the fast path.
func (s *flatScanner) next(first bool) (name string, done, ok bool) {
	s.skipSpace()
	if s.i >= len(s.b) {
		return "", false, false
	}
	if s.b[s.i] == '}' {
		s.i++
		s.skipSpace()
		return "", s.i == len(s.b), s.i == len(s.b)
	}
	if !first {
		if s.b[s.i] != ',' {
			return "", false, false
		}
		s.i++
		s.skipSpace()
	}
	name, ok = s.str()
	if !ok {
		return "", false, false
	}
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return "", false, false
	}
	s.i++
	s.skipSpace()
	return name, false, true
}

// peek returns the first byte of the next value, or 0 at the end.
func (s *flatScanner) peek() byte {
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str reads a string without escapes or control characters whose bytes are
// valid UTF-8, and returns its contents, a slice of b.
func (s *flatScanner) str() (string, bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	ascii := true
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			v := b[start:i]
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			s.i = i + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

// maxFastDigits bounds the integers the fast path reads: 15 decimal digits
// are below 2^53, so the value is exact both as an int64 and as a float64.
const maxFastDigits = 15

// integer reads a JSON number that is an integer literal of at most
// maxFastDigits digits, other than "-0" (whose float64 is negative zero).
func (s *flatScanner) integer() (int64, bool) {
	b := s.b
	i := s.i
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
		if i-start > maxFastDigits {
			return 0, false
		}
	}
	n := i - start
	switch {
	case n == 0, n > 1 && b[start] == '0', neg && v == 0:
		return 0, false
	}
	// A fraction or an exponent is left to the strict decoder; any other
	// byte after the digits is checked by the caller's syntax.
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, false
	}
	s.i = i
	if neg {
		v = -v
	}
	return v, true
}

// literal reads true, false or null; kind is the byte that starts it.
func (s *flatScanner) literal(kind byte) (any, bool) {
	var word string
	var v any
	switch kind {
	case 't':
		word, v = "true", true
	case 'f':
		word, v = "false", false
	case 'n':
		word = "null"
	default:
		return nil, false
	}
	if len(s.b)-s.i < len(word) || s.b[s.i:s.i+len(word)] != word {
		return nil, false
	}
	s.i += len(word)
	return v, true
}

// scalar reads a string, an integer, a boolean or null as the strict
// decoder reads it into an any: string, float64, bool or nil.
func (s *flatScanner) scalar() (any, bool) {
	switch c := s.peek(); {
	case c == '"':
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		return v, true
	case c == '-' || c >= '0' && c <= '9':
		v, ok := s.integer()
		return float64(v), ok
	default:
		return s.literal(c)
	}
}

// list reads a flat array, calling elem to read each element.
func (s *flatScanner) list(elem func() bool) bool {
	s.i++ // '['
	for first := true; ; first = false {
		s.skipSpace()
		if s.peek() == ']' {
			s.i++
			return true
		}
		if !first {
			if s.peek() != ',' {
				return false
			}
			s.i++
			s.skipSpace()
		}
		if !elem() {
			return false
		}
	}
}

// array reads an array of scalars as []any, each element as scalar does.
func (s *flatScanner) array() ([]any, bool) {
	out := []any{}
	ok := s.list(func() bool {
		v, ok := s.scalar()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// strings reads an array of strings.
func (s *flatScanner) strings() ([]string, bool) {
	out := []string{}
	ok := s.list(func() bool {
		v, ok := s.str()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// skip reads and discards a scalar or an array of scalars, without making
// values of them.
func (s *flatScanner) skip() bool {
	if s.peek() == '[' {
		return s.list(s.skipScalar)
	}
	return s.skipScalar()
}

func (s *flatScanner) skipScalar() bool {
	var ok bool
	switch c := s.peek(); {
	case c == '"':
		_, ok = s.str()
	case c == '-' || c >= '0' && c <= '9':
		_, ok = s.integer()
	default:
		_, ok = s.literal(c)
	}
	return ok
}

// fastHeader reads a flat header into h. It declines (false) any header
// that carries a refused parameter, so that the strict path reports it.
func fastHeader(data string, h *Header) bool {
	s := flatScanner{b: data}
	if !s.begin() {
		return false
	}
	const (
		seenAlg = 1 << iota
		seenKid
		seenTyp
		seenCty
	)
	var seen uint8
	// Names of other members, to find duplicates among them; a header
	// with more of them than this leaves the fast path.
	var others [8]string
	nothers := 0
	for first := true; ; first = false {
		name, done, ok := s.next(first)
		if done {
			return true
		}
		if !ok {
			return false
		}
		var bit uint8
		var dst *string
		switch name {
		case "alg":
			bit = seenAlg
		case "kid":
			bit, dst = seenKid, &h.KeyID
		case "typ":
			bit = seenTyp
		case "cty":
			bit, dst = seenCty, &h.ContentType
		case "crit", "jwk", "jku", "x5u", "x5c":
			return false
		default:
			for _, o := range others[:nothers] {
				if o == name {
					return false
				}
			}
			if nothers == len(others) || !s.skip() {
				return false
			}
			others[nothers] = name
			nothers++
			continue
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		v, ok := s.str()
		if !ok {
			return false
		}
		switch bit {
		case seenAlg:
			h.Algorithm = Algorithm(v)
		case seenTyp:
			h.Type = v
		default:
			*dst = v
		}
	}
}

// fastClaims reads a flat claims set into c, which must be zero; on false
// c may hold part of the document and must be reset. The strings of c are
// slices of data. aud, when not nil, holds a single audience.
func fastClaims(data string, aud *[1]string, c *Claims) bool {
	s := flatScanner{b: data}
	if !s.begin() {
		return false
	}
	const (
		seenIss = 1 << iota
		seenSub
		seenAud
		seenExp
		seenNbf
		seenIat
		seenJti
	)
	var seen uint8
	for first := true; ; first = false {
		name, done, ok := s.next(first)
		if done {
			return true
		}
		if !ok {
			return false
		}
		var bit uint8
		var str *string
		var date *NumericDate
		switch name {
		case "iss":
			bit, str = seenIss, &c.Issuer
		case "sub":
			bit, str = seenSub, &c.Subject
		case "jti":
			bit, str = seenJti, &c.ID
		case "exp":
			bit, date = seenExp, &c.Expiry
		case "nbf":
			bit, date = seenNbf, &c.NotBefore
		case "iat":
			bit, date = seenIat, &c.IssuedAt
		case "aud":
			bit = seenAud
		default:
			if !fastExtra(&s, c, name) {
				return false
			}
			continue
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch {
		case str != nil:
			v, ok := s.str()
			if !ok {
				return false
			}
			*str = v
		case date != nil:
			v, ok := s.integer()
			if !ok {
				return false
			}
			*date = NumericDate(v)
		default: // aud
			if s.peek() == '[' {
				list, ok := s.strings()
				if !ok {
					return false
				}
				c.Audience = list
				continue
			}
			v, ok := s.str()
			if !ok {
				return false
			}
			if aud == nil {
				aud = new([1]string)
			}
			aud[0] = v
			c.Audience = aud[:]
		}
	}
}

// fastExtra reads the value of the private claim name into c.Extra.
func fastExtra(s *flatScanner, c *Claims, name string) bool {
	var v any
	var ok bool
	if s.peek() == '[' {
		v, ok = s.array()
	} else {
		v, ok = s.scalar()
	}
	if !ok {
		return false
	}
	if c.Extra == nil {
		c.Extra = make(map[string]any, 4)
	}
	// A name seen before leaves the size as it was: a duplicate.
	n := len(c.Extra)
	c.Extra[name] = v
	return len(c.Extra) > n
}
