package dpop

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// NormalizeURL returns the form of an HTTP(S) URL that an "htu" claim is
// compared in (RFC 9449 §4.3 point 9, RFC 3986 §6.2.2 and §6.2.3): the
// scheme and host lower-cased, the port dropped when it is the scheme's
// default, an empty path written "/", percent-encodings with upper-case hex
// and those of unreserved characters decoded, and no query or fragment. A
// host with non-ASCII characters (an internationalized domain name, which
// [url.URL.String] writes percent-encoded, "b%C3%BCcher.example") is
// written in its ASCII form, the one clients look up and send in the Host
// header ("xn--bcher-kva.example"; IDNA 2008, the lookup profile of
// [idna.Lookup]), so that both forms name the same URL. Anything else, dot
// segments included, is compared as it is. It fails for a URL that is not
// absolute http or https with a host, that carries user information, or
// whose host is not a valid internationalized domain name.
func NormalizeURL(u *url.URL) (string, error) {
	if u == nil {
		return "", errors.New("no URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("not an http or https URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return "", errors.New("not an absolute URL with a host")
	}
	if u.User != nil {
		return "", errors.New("a URL with user information")
	}
	host, err := asciiHost(u.Hostname())
	if err != nil {
		return "", err
	}
	if host == "" {
		return "", errors.New("not an absolute URL with a host")
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	var b strings.Builder
	b.Grow(len(u.Scheme) + 3 + len(u.Host) + len(u.EscapedPath()) + 1)
	b.WriteString(scheme)
	b.WriteString("://")
	switch {
	case port != "":
		b.WriteString(net.JoinHostPort(host, port))
	case strings.IndexByte(host, ':') >= 0:
		b.WriteString("[" + host + "]")
	default:
		b.WriteString(host)
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	writeNormalPath(&b, p)
	return b.String(), nil
}

// asciiHost returns host percent-decoded, lower-cased and, when it has non-ASCII
// characters, converted to its ASCII form by the IDNA 2008 lookup profile
// (punycode labels), failing for a host that profile refuses. An ASCII
// host is only lower-cased, as before internationalized names were
// mapped: the lookup profile also applies the STD3 rules, which refuse
// names that DNS and HTTP accept (an underscore in an internal service's
// name), and an ASCII name is already in the form clients send.
func asciiHost(host string) (string, error) {
	if strings.IndexByte(host, '%') >= 0 && strings.IndexByte(host, ':') < 0 {
		// A host written percent-encoded (RFC 3986 §3.2.2), as url.Parse
		// would have decoded it; an IPv6 address keeps its zone as it is.
		// As for url.Parse, only non-ASCII characters may be encoded
		// (then the lookup profile checks what they spell): a decoded
		// "/" or "@" would make another URL of the same text.
		h, err := url.PathUnescape(host)
		if err != nil || isASCII(h) {
			return "", errors.New("a host with a malformed percent-encoding")
		}
		host = h
	}
	if isASCII(host) {
		return strings.ToLower(host), nil
	}
	if !utf8.ValidString(host) {
		return "", errors.New("a host that is not UTF-8")
	}
	a, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", errors.New("a host that is not a valid internationalized domain name")
	}
	return strings.ToLower(a), nil
}

// asciiHostPort returns u's host, with its port when it has one, in the
// ASCII form of [asciiHost].
func asciiHostPort(u *url.URL) (string, error) {
	if isASCII(u.Host) && strings.IndexByte(u.Host, '%') < 0 {
		return u.Host, nil
	}
	host, err := asciiHost(u.Hostname())
	if err != nil {
		return "", err
	}
	if port := u.Port(); port != "" {
		return net.JoinHostPort(host, port), nil
	}
	return host, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normalizeHTU parses and normalizes the "htu" of a proof.
func normalizeHTU(htu string) (string, error) {
	u, err := url.Parse(htu)
	if err != nil {
		return "", errors.New("not a URL")
	}
	// RFC 9449 §4.2: the URI "without query and fragment parts"; a proof
	// that names one was not made by a conforming client.
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" || strings.ContainsAny(htu, "?#") {
		return "", errors.New("htu has a query or a fragment")
	}
	return NormalizeURL(u)
}

// writeNormalPath writes an escaped path with its percent-encodings
// normalized (RFC 3986 §6.2.2.1, §6.2.2.2).
func writeNormalPath(b *strings.Builder, p string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) {
			b.WriteByte(c)
			continue
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			b.WriteByte(c)
			continue
		}
		v := hi<<4 | lo
		if isUnreserved(v) {
			b.WriteByte(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[v>>4])
			b.WriteByte(hex[v&15])
		}
		i += 2
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isUnreserved reports whether c is an unreserved character of RFC 3986
// §2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
