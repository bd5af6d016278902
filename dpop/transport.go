package dpop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// maxNonceOrigins bounds how many origins a Transport remembers a nonce
// for; past it, the nonces it holds are forgotten and learned again.
const maxNonceOrigins = 256

// maxErrorBody bounds how much of a 400 answer a Transport reads to find
// a use_dpop_nonce error.
const maxErrorBody = 16 << 10

// Transport is an [http.RoundTripper] for a DPoP client: it sends every
// request with a fresh proof made by Signer, with `Authorization: DPoP
// <token>` when Token is set, remembers the server nonce each origin gives
// in DPoP-Nonce, and when a server answers use_dpop_nonce (RFC 9449 §8, §9:
// 401 with that error in WWW-Authenticate, or 400 with it in a JSON body)
// sends the request once more with the new nonce. It is safe for
// concurrent use.
//
// A request whose body cannot be sent twice (a Body without GetBody) is
// not retried: its use_dpop_nonce answer is returned as it came, and the
// next request carries the nonce.
type Transport struct {
	// Signer makes the proofs. Required.
	Signer *ProofSigner
	// Token, when set, gives the access token of each request, which goes
	// into `Authorization: DPoP <token>` and the proof's "ath"; the tokens
	// must be bound to Signer's key. Nil sends no Authorization header
	// (token requests, whose client authentication is the caller's).
	Token func(ctx context.Context) (string, error)
	// Base sends the requests. Nil means http.DefaultTransport; set
	// timeouts on the http.Client that uses the Transport.
	Base http.RoundTripper

	mu     sync.Mutex
	nonces map[string]string // origin → last nonce it gave
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements [http.RoundTripper]. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper closes the request's body, even on errors; once the
	// request is handed to base, base does.
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if t.Signer == nil {
		return fail(errors.New("dpop: Transport without a Signer"))
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	token := ""
	if t.Token != nil {
		var err error
		if token, err = t.Token(req.Context()); err != nil {
			return fail(fmt.Errorf("dpop: access token: %w", err))
		}
	}
	origin := strings.ToLower(req.URL.Scheme + "://" + req.URL.Host)
	nonce := t.nonce(origin)
	out, err := t.prepare(req, token, nonce, false)
	if err != nil {
		return fail(err)
	}
	resp, err := base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	fresh := resp.Header.Get(NonceHeader)
	if fresh != "" {
		t.setNonce(origin, fresh)
	}
	if fresh == "" || fresh == nonce || !useNonce(resp) || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	// The proof lacked the server's current nonce: once more with it.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	out, err = t.prepare(req, token, fresh, true)
	if err != nil {
		return nil, err
	}
	resp, err = base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if n := resp.Header.Get(NonceHeader); n != "" {
		t.setNonce(origin, n)
	}
	return resp, nil
}

// prepare returns a copy of req with a fresh proof and, when token is
// set, the Authorization header; again asks for a new body.
func (t *Transport) prepare(req *http.Request, token, nonce string, again bool) (*http.Request, error) {
	proof, err := t.Signer.Sign(req.Method, req.URL, token, nonce)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	if again && req.Body != nil {
		if out.Body, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("dpop: request body for the retry: %w", err)
		}
	}
	out.Header.Set(Header, proof)
	if token != "" {
		out.Header.Set("Authorization", Scheme+" "+token)
	}
	return out, nil
}

func (t *Transport) nonce(origin string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[origin]
}

func (t *Transport) setNonce(origin, nonce string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil || len(t.nonces) >= maxNonceOrigins {
		if _, ok := t.nonces[origin]; !ok {
			t.nonces = make(map[string]string)
		}
	}
	t.nonces[origin] = nonce
}

// useNonce reports whether resp is a use_dpop_nonce answer: a 401 whose
// DPoP challenge says so (a resource server, RFC 9449 §9), or a 400 whose
// JSON body does (an authorization server, §8). The body of a 400 is read
// and put back.
func useNonce(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, v := range resp.Header.Values("WWW-Authenticate") {
			if scheme, params, _ := strings.Cut(strings.TrimSpace(v), " "); strings.EqualFold(scheme, Scheme) &&
				strings.Contains(params, `error="use_dpop_nonce"`) {
				return true
			}
		}
	case http.StatusBadRequest:
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt != "application/json" || resp.Body == nil {
			return false
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		if err != nil {
			return false
		}
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(b, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}
