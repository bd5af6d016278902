package dpop

import (
	"crypto/elliptic"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// idnASCII is the ASCII form of the IDN host bücher.example, the form a
// client looks up and sends in the Host header.
const idnASCII = "xn--bcher-kva.example"

// TestNormalizeURLIDN checks that the forms of an internationalized host
// normalize to its one ASCII form, that ASCII hosts keep their form, and
// that hosts IDNA refuses are refused.
func TestNormalizeURLIDN(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		in   *url.URL // when set, used as it is
		raw  string   // else parsed
		want string   // "" for an error
	}{
		{name: "unicode", raw: "https://bücher.example/a", want: "https://" + idnASCII + "/a"},
		{name: "percent-encoded", raw: "https://b%C3%BCcher.example/a", want: "https://" + idnASCII + "/a"},
		{name: "upper case", raw: "https://BÜCHER.EXAMPLE:443/a", want: "https://" + idnASCII + "/a"},
		{name: "ascii", raw: "https://" + idnASCII + "/a", want: "https://" + idnASCII + "/a"},
		{name: "ascii upper case", raw: "https://XN--BCHER-KVA.example/a", want: "https://" + idnASCII + "/a"},
		{name: "with a port", raw: "https://bücher.example:8443/a", want: "https://" + idnASCII + ":8443/a"},
		{name: "full-width dot", raw: "https://bücher。example/a", want: "https://" + idnASCII + "/a"},
		{name: "struct with percent-encoded host", in: &url.URL{Scheme: "https", Host: "b%C3%BCcher.example", Path: "/a"}, want: "https://" + idnASCII + "/a"},
		{name: "ascii with underscore kept", raw: "http://orders_api:8080/a", want: "http://orders_api:8080/a"},
		{name: "ipv6", raw: "https://[::1]:8443/a", want: "https://[::1]:8443/a"},
		{name: "leading hyphen", in: &url.URL{Scheme: "https", Host: "-bücher.example", Path: "/a"}},
		{name: "disallowed character", in: &url.URL{Scheme: "https", Host: "bü_cher.example", Path: "/a"}},
		{name: "slash in a non-ascii host", in: &url.URL{Scheme: "https", Host: "bü%2Fcher.example", Path: "/a"}},
		{name: "percent-encoded ascii", in: &url.URL{Scheme: "https", Host: "a%2Fb.example", Path: "/a"}},
		{name: "bad percent-encoding", in: &url.URL{Scheme: "https", Host: "b%C3%Bcher%zz.example", Path: "/a"}},
		{name: "not utf-8", in: &url.URL{Scheme: "https", Host: "b\xffcher.example", Path: "/a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := tt.in
			if u == nil {
				u = mustURL(t, tt.raw)
			}
			got, err := NormalizeURL(u)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizeURL = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestProofIDNHost checks that a proof made for an internationalized host,
// in any of its forms, verifies at the server, which sees the ASCII form
// in the Host header, and that signing for a host IDNA refuses fails.
func TestProofIDNHost(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	s, err := NewProofSigner(ec, "", fixedNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	server := &url.URL{Scheme: "https", Host: idnASCII, Path: "/orders"}
	for _, raw := range []string{"https://bücher.example/orders", "https://b%C3%BCcher.example/orders", "https://BÜCHER.example/orders?q=1", "https://" + idnASCII + "/orders"} {
		t.Run(raw, func(t *testing.T) {
			t.Parallel()
			c := newChecker(t, Config{})
			p, err := s.Sign("GET", mustURL(t, raw), testToken, "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Check(p, "GET", server, testToken)
			if err != nil {
				t.Fatalf("proof signed for %s: %v", raw, err)
			}
			if got.URL != "https://"+idnASCII+"/orders" {
				t.Errorf("Proof.URL = %q", got.URL)
			}
			// A proof whose htu another client wrote in the Unicode or
			// percent-encoded form verifies too.
			q := proofSpec{claims: map[string]any{"htu": strings.Split(raw, "?")[0]}}.build(t, ec)
			if _, err := c.Check(q, "GET", server, testToken); err != nil {
				t.Fatalf("proof with htu %s: %v", raw, err)
			}
		})
	}
	if _, err := s.Sign("GET", &url.URL{Scheme: "https", Host: "-bücher.example", Path: "/"}, "", ""); err == nil {
		t.Error("Sign for a host IDNA refuses passed")
	}
	if _, err := NewProof(ec, "GET", "https://bücher.example/orders", "", ""); err != nil {
		t.Errorf("NewProof for an IDN host: %v", err)
	}
}

// TestTransportIDNHost checks that Transport's proofs to an IDN host
// verify at a server that sees its ASCII form.
func TestTransportIDNHost(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	s, err := NewProofSigner(ec, "", fixedNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(t, Config{})
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		// What the server sees: the Host header in ASCII, as net/http
		// sends it.
		target := &url.URL{Scheme: "https", Host: idnASCII, Path: r.URL.Path}
		status := http.StatusOK
		if _, err := c.Check(r.Header.Get(Header), r.Method, target, ""); err != nil {
			t.Errorf("proof: %v", err)
			status = http.StatusUnauthorized
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	client := &http.Client{Transport: &Transport{Signer: s, Base: base}}
	req, err := http.NewRequestWithContext(t.Context(), "GET", "https://bücher.example/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// FuzzNormalizeURL runs arbitrary URLs through NormalizeURL: nothing
// panics, a normalized URL is ASCII with no query or fragment, and
// normalizing it again changes nothing.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/a", "HTTPS://API.EXAMPLE.COM:443/a?b#c", "http://api.example.com:80",
		"https://bücher.example/a", "https://b%C3%BCcher.example/a", "https://XN--BCHER-KVA.example/a",
		"https://bücher。example:8443/%7e/%c3%a9", "https://-bücher.example/", "https://bü_cher.example/",
		"https://[::1]:443/x", "http://orders_api:8080/a", "https://user@api.example.com/", "/relative",
		"https://xn--/", "https://ß.example/", "https://a%2Fb.example/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		got, err := NormalizeURL(u)
		if err != nil {
			return
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= utf8.RuneSelf {
				t.Fatalf("NormalizeURL(%q) = %q, not ASCII", raw, got)
			}
		}
		if strings.ContainsAny(got, "?#") {
			t.Fatalf("NormalizeURL(%q) = %q, with a query or fragment", raw, got)
		}
		again, err := normalizeHTU(got)
		if err != nil {
			// An IPv6 zone is written as it came, which url.Parse may
			// not read back; nothing else may fail.
			if strings.Contains(u.Host, "%") && strings.Contains(u.Host, "]") {
				return
			}
			t.Fatalf("NormalizeURL(%q) = %q, which does not normalize: %v", raw, got, err)
		}
		if again != got {
			t.Fatalf("NormalizeURL(%q) = %q, then %q", raw, got, again)
		}
	})
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
