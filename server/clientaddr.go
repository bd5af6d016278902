package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many hops of a forwarding header are read,
// from the right; a longer chain is cut there.
const maxForwardedHops = 32

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes and
// addresses (a bare address is its own /32 or /128), the proxies whose
// forwarding headers [Config.TrustedProxies] believes. Empty means none.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for rest := s; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or an address", item)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or an address", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientAddr returns the address of the client that sent r: the TCP
// peer's, unless the peer is one of the trusted proxies; then the
// right-most address of the X-Forwarded-For header (or, when the request
// has none, of the for= parameters of Forwarded, RFC 7239) that is not a
// trusted proxy, since every hop left of it may be written by the client.
// A hop that is not an address (RFC 7239's "unknown" or an obfuscated
// identifier) ends the walk at the last trusted hop before it, so a client
// can never choose the address it is throttled under.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer, err := parseHop(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	var hops []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops = lastHops(strings.Join(xff, ","), forwardedForHop)
	} else if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		hops = lastHops(strings.Join(fwd, ","), forwardedHop)
	}
	client := peer
	for _, h := range hops {
		a, err := parseHop(h)
		if err != nil {
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

// isTrusted reports whether a is in one of the trusted prefixes.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lastHops returns the hops of a comma-separated header value, right-most
// first, at most [maxForwardedHops], each read by hop.
func lastHops(v string, hop func(string) string) []string {
	var out []string
	for len(out) < maxForwardedHops {
		i := strings.LastIndexByte(v, ',')
		out = append(out, hop(strings.TrimSpace(v[i+1:])))
		if i < 0 {
			break
		}
		v = v[:i]
	}
	return out
}

// forwardedForHop reads one element of X-Forwarded-For: the address as it
// is.
func forwardedForHop(s string) string { return s }

// forwardedHop reads one forwarded-element of RFC 7239 §4: the value of
// its for= parameter, unquoted, or "" when it has none.
func forwardedHop(elem string) string {
	for rest := elem; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(name, "for") {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		return value
	}
	return ""
}

// errNotAnAddress is the error of a hop that names no IP address.
var errNotAnAddress = errors.New("not an IP address")

// parseHop reads an address with or without a port: "192.0.2.1",
// "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:80".
// An IPv4-mapped IPv6 address is read as IPv4; a zone is dropped.
func parseHop(s string) (netip.Addr, error) {
	if len(s) > 64 {
		return netip.Addr{}, errNotAnAddress
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errNotAnAddress
	}
	return a.Unmap().WithZone(""), nil
}
