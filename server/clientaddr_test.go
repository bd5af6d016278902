package server

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// TestClientAddr checks where the login throttle's client address comes
// from: the peer, unless the peer is a trusted proxy; then the right-most
// hop of X-Forwarded-For (or Forwarded) that is not a trusted proxy.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48,192.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		peer    string
		xff     []string
		fwd     []string
		trusted []netip.Prefix
		want    string
	}{
		{name: "no proxy trusted, spoofed XFF ignored", peer: "198.51.100.1:5000", xff: []string{"203.0.113.7"}, want: "198.51.100.1"},
		{name: "untrusted peer, spoofed XFF ignored", peer: "198.51.100.1:5000", xff: []string{"203.0.113.7"}, trusted: trusted, want: "198.51.100.1"},
		{name: "untrusted peer, spoofed Forwarded ignored", peer: "198.51.100.1:5000", fwd: []string{"for=203.0.113.7"}, trusted: trusted, want: "198.51.100.1"},
		{name: "trusted peer, one hop", peer: "10.1.2.3:5000", xff: []string{"203.0.113.7"}, trusted: trusted, want: "203.0.113.7"},
		{name: "trusted peer, client-written hops left of the real one", peer: "10.1.2.3:5000", xff: []string{"1.1.1.1, 2.2.2.2, 203.0.113.7"}, trusted: trusted, want: "203.0.113.7"},
		{name: "trusted chain", peer: "10.1.2.3:5000", xff: []string{"9.9.9.9, 203.0.113.7, 10.9.9.9", "192.0.2.10"}, trusted: trusted, want: "203.0.113.7"},
		{name: "all hops trusted", peer: "10.1.2.3:5000", xff: []string{"10.0.0.1, 10.0.0.2"}, trusted: trusted, want: "10.0.0.1"},
		{name: "trusted peer, no header", peer: "10.1.2.3:5000", trusted: trusted, want: "10.1.2.3"},
		{name: "garbage hop stops at the trusted hop before it", peer: "10.1.2.3:5000", xff: []string{"203.0.113.7, not-an-ip"}, trusted: trusted, want: "10.1.2.3"},
		{name: "empty XFF", peer: "10.1.2.3:5000", xff: []string{""}, trusted: trusted, want: "10.1.2.3"},
		{name: "XFF with a port", peer: "10.1.2.3:5000", xff: []string{"203.0.113.7:4711"}, trusted: trusted, want: "203.0.113.7"},
		{name: "XFF IPv6", peer: "[2001:db8:ffff:1::1]:443", xff: []string{"2001:db8:1::5"}, trusted: trusted, want: "2001:db8:1::5"},
		{name: "XFF wins over Forwarded", peer: "10.1.2.3:5000", xff: []string{"203.0.113.7"}, fwd: []string{"for=203.0.113.8"}, trusted: trusted, want: "203.0.113.7"},
		{name: "Forwarded", peer: "10.1.2.3:5000", fwd: []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, trusted: trusted, want: "192.0.2.60"},
		{name: "Forwarded quoted IPv6 with port", peer: "10.1.2.3:5000", fwd: []string{`for=1.1.1.1, For="[2001:db8:cafe::17]:4711"`}, trusted: trusted, want: "2001:db8:cafe::17"},
		{name: "Forwarded chain", peer: "10.1.2.3:5000", fwd: []string{"for=9.9.9.9", "for=198.51.100.9;proto=https, for=10.2.2.2"}, trusted: trusted, want: "198.51.100.9"},
		{name: "Forwarded unknown", peer: "10.1.2.3:5000", fwd: []string{"for=unknown"}, trusted: trusted, want: "10.1.2.3"},
		{name: "Forwarded obfuscated", peer: "10.1.2.3:5000", fwd: []string{"for=_hidden, for=10.0.0.7"}, trusted: trusted, want: "10.0.0.7"},
		{name: "Forwarded without for", peer: "10.1.2.3:5000", fwd: []string{"proto=https"}, trusted: trusted, want: "10.1.2.3"},
		{name: "mapped IPv4 peer", peer: "[::ffff:10.1.2.3]:5000", xff: []string{"203.0.113.7"}, trusted: trusted, want: "203.0.113.7"},
		{name: "peer not an address", peer: "pipe", xff: []string{"203.0.113.7"}, trusted: trusted, want: "pipe"},
		{name: "long chain cut", peer: "10.1.2.3:5000", xff: []string{"203.0.113.7" + strings.Repeat(", 10.0.0.1", 40)}, trusted: trusted, want: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			if got := clientAddr(r, tt.trusted); got != tt.want {
				t.Fatalf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseTrustedProxies checks the --trusted-proxies syntax.
func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string // the prefixes, comma-separated
		wantErr bool
	}{
		{in: "", want: ""},
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 10.1.2.3/8 , ,192.0.2.1,2001:db8::/32,::1", want: "10.0.0.0/8,192.0.2.1/32,2001:db8::/32,::1/128"},
		{in: "::ffff:192.0.2.1", want: "192.0.2.1/32"},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "example.com", wantErr: true},
		{in: "10.0.0.0/8,nope", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseTrustedProxies(%q): error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !tt.wantErr && strings.Join(s, ",") != tt.want {
			t.Errorf("ParseTrustedProxies(%q) = %q, want %q", tt.in, strings.Join(s, ","), tt.want)
		}
	}
}

// FuzzClientAddr checks that reading forwarding headers never panics and
// never yields an address that neither the peer nor the headers named.
func FuzzClientAddr(f *testing.F) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8,2001:db8::/32")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("10.1.1.1:1", "203.0.113.7, 10.0.0.2", "")
	f.Add("10.1.1.1:1", "", `for="[2001:db8:cafe::17]:4711";proto=https, for=unknown`)
	f.Add("198.51.100.1:1", "1.2.3.4", "for=5.6.7.8")
	f.Add("[2001:db8::1]:1", ",,,", `for=""`)
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{}}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			r.Header.Set("Forwarded", fwd)
		}
		got := clientAddr(r, trusted)
		if got == peer {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("clientAddr = %q, neither the peer %q nor an address", got, peer)
		}
		named := []string{peer}
		named = append(named, lastHops(xff, forwardedForHop)...)
		named = append(named, lastHops(fwd, forwardedHop)...)
		for _, h := range named {
			if b, err := parseHop(h); err == nil && b == a {
				return
			}
		}
		t.Fatalf("clientAddr = %q, named by neither the peer nor the headers", got)
	})
}
