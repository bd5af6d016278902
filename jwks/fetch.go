package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/jose"
)

// Limits of one HTTP exchange with a key source.
const (
	// DefaultFetchTimeout bounds one fetch, from the request to the last
	// byte of the body.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultMaxBodySize bounds a JWKS or discovery document: 1 MiB.
	DefaultMaxBodySize = 1 << 20
)

// NewClient returns an HTTP client suited to fetching key sets: its own
// transport (a clone of the standard one, so connections are not shared
// with unrelated code), a whole-exchange timeout of [DefaultFetchTimeout]
// and at most three redirects, each to the same scheme and host as the
// request: a redirect to another host, or from https to http, is refused.
// Use it when the caller has no client of its own; never pass
// http.DefaultClient, which has no timeout.
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = DefaultFetchTimeout
	t.ResponseHeaderTimeout = DefaultFetchTimeout
	t.MaxIdleConnsPerHost = 2
	return &http.Client{
		Transport: t,
		Timeout:   DefaultFetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if err := checkRedirect(req, via); err != nil {
				return err
			}
			if len(via) >= 3 {
				return errors.New("stopped after 3 redirects")
			}
			return nil
		},
	}
}

// checkRedirect refuses a redirect to another scheme or host than the
// first request's: a key set fetched from wherever a redirect points (plain
// http, another host) would be trusted as the issuer's.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if first := via[0].URL; !sameOrigin(req.URL, first) {
		return fmt.Errorf("redirect from %s://%s to %s://%s refused: only the same scheme and host are followed",
			first.Scheme, first.Host, req.URL.Scheme, truncate(req.URL.Host, 100))
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Host, b.Host)
}

// confine returns a copy of client that also refuses redirects to another
// scheme or host, whatever the client's own CheckRedirect allows.
func confine(client *http.Client) *http.Client {
	c := *client
	inner := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		if inner != nil {
			return inner(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// Fetch downloads and parses the JWK Set at url once, without any caching.
//
// The exchange is bounded by [DefaultFetchTimeout] (on top of whatever
// deadline ctx carries) and the body by [DefaultMaxBodySize]. The answer
// must be 200 with a JSON media type (application/json,
// application/jwk-set+json or any +json type; a missing Content-Type is
// tolerated), and the body a valid public JWK Set ([jose.ParseJWKS]) with at
// least one usable key. Keys left out (use "enc", unknown types...) are in the
// result's Skipped list. A redirect to another scheme or host is not
// followed, whatever the client's CheckRedirect. A nil client means
// [NewClient]. Errors wrap [ErrFetch].
func Fetch(ctx context.Context, client *http.Client, url string) (*jose.JWKS, error) {
	res, err := fetch(ctx, client, url, fetchOptions{})
	if err != nil {
		return nil, err
	}
	return res.set, nil
}

// fetchOptions tunes one fetch; zero values mean the defaults.
type fetchOptions struct {
	timeout time.Duration
	maxBody int64
	etag    string // sent as If-None-Match when not empty
}

// fetchResult is the outcome of one successful exchange.
type fetchResult struct {
	set         *jose.JWKS // nil when notModified
	notModified bool
	etag        string
	maxAge      time.Duration // from Cache-Control; valid when hasMaxAge
	hasMaxAge   bool
	noStore     bool // Cache-Control: no-store or no-cache
}

func fetch(ctx context.Context, client *http.Client, rawURL string, opt fetchOptions) (*fetchResult, error) {
	var res fetchResult
	err := get(ctx, client, rawURL, opt, func(resp *http.Response, body []byte) error {
		res.etag = resp.Header.Get("ETag")
		res.maxAge, res.hasMaxAge, res.noStore = cacheControl(resp.Header)
		if resp.StatusCode == http.StatusNotModified {
			if opt.etag == "" {
				return errors.New("304 Not Modified without a conditional request")
			}
			res.notModified = true
			if res.etag == "" {
				res.etag = opt.etag
			}
			return nil
		}
		set, err := jose.ParseJWKS(body)
		if err != nil {
			return err
		}
		if len(set.Keys) == 0 {
			return emptySetError(set)
		}
		res.set = set
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// emptySetError explains why a set has no usable key.
func emptySetError(set *jose.JWKS) error {
	if len(set.Skipped) == 0 {
		return errors.New("the key set is empty")
	}
	reasons := make([]string, 0, 3)
	for i, s := range set.Skipped {
		if i == 3 {
			reasons = append(reasons, fmt.Sprintf("and %d more", len(set.Skipped)-3))
			break
		}
		reasons = append(reasons, fmt.Sprintf("key %d (kid %q): %s", s.Index, s.KeyID, s.Reason))
	}
	return fmt.Errorf("the key set has no usable key: %s", strings.Join(reasons, "; "))
}

// get performs one bounded GET of a JSON document and hands a 200 (or 304
// when opt.etag is set) response with its body to handle. Errors wrap
// ErrFetch and name the URL, the status or the reason, never the body.
func get(ctx context.Context, client *http.Client, rawURL string, opt fetchOptions, handle func(*http.Response, []byte) error) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: GET %s: %s", ErrFetch, rawURL, fmt.Sprintf(format, args...))
	}
	if client == nil {
		client = NewClient()
	}
	timeout := opt.timeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	maxBody := opt.maxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBodySize
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrFetch, rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if opt.etag != "" {
		req.Header.Set("If-None-Match", opt.etag)
	}
	resp, err := confine(client).Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fail("no answer within %s", timeout)
		}
		return fmt.Errorf("%w: GET %s: %w", ErrFetch, rawURL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.Request != nil && resp.Request.URL != nil && !sameOrigin(resp.Request.URL, u) {
		// A RoundTripper that follows redirects itself.
		return fail("answered from %s://%s, another scheme or host", resp.Request.URL.Scheme, truncate(resp.Request.URL.Host, 100))
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && opt.etag != "":
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		if err := handle(resp, nil); err != nil {
			return fail("%v", err)
		}
		return nil
	case resp.StatusCode != http.StatusOK:
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return fail("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !jsonMediaType(ct) {
		return fail("Content-Type %q is not JSON", truncate(ct, 64))
	}
	if resp.ContentLength > maxBody {
		return fail("body of %d bytes is over the %d-byte limit", resp.ContentLength, maxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fail("body not complete within %s", timeout)
		}
		return fail("reading the body: %v", err)
	}
	if int64(len(body)) > maxBody {
		return fail("body is over the %d-byte limit", maxBody)
	}
	if err := handle(resp, body); err != nil {
		return fail("%v", err)
	}
	return nil
}

// unwrapURLError drops the "Get URL:" prefix *url.Error adds, since the
// caller names the URL already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func jsonMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// cacheControl reads max-age (and no-store/no-cache) from a response.
func cacheControl(h http.Header) (maxAge time.Duration, ok, noStore bool) {
	for _, line := range h.Values("Cache-Control") {
		for rest := line; rest != ""; {
			var dir string
			dir, rest, _ = strings.Cut(rest, ",")
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err == nil && n >= 0 && !ok {
					if n > 1<<31 {
						n = 1 << 31
					}
					maxAge, ok = time.Duration(n)*time.Second, true
				}
			case "no-store", "no-cache":
				noStore = true
			}
		}
	}
	return maxAge, ok, noStore
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Discovery documents, tried in this order.
const (
	oidcWellKnown  = "/.well-known/openid-configuration"
	oauthWellKnown = "/.well-known/oauth-authorization-server"
)

// Discover finds the JWKS URL of issuer from its metadata: first OpenID
// Connect Discovery (issuer + "/.well-known/openid-configuration"), then
// RFC 8414 (the well-known path inserted between the issuer's host and its
// path). The document's "issuer" must equal issuer exactly (OpenID Connect
// Discovery §4.3, RFC 8414 §3.3), or the answer is refused: an issuer that
// does not claim its own name could hand out anyone's keys. "jwks_uri" must
// be an absolute http(s) URL. Exchanges are bounded like [Fetch]'s, and
// follow no redirect to another scheme or host. A nil
// client means [NewClient]. Errors wrap [ErrDiscovery].
func Discover(ctx context.Context, client *http.Client, issuer string) (jwksURI string, err error) {
	return discover(ctx, client, issuer, fetchOptions{})
}

func discover(ctx context.Context, client *http.Client, issuer string, opt fetchOptions) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: issuer %q is not an absolute http(s) URL without query or fragment", ErrDiscovery, issuer)
	}
	base := strings.TrimSuffix(issuer, "/")
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	candidates := []string{base + oidcWellKnown, u.Scheme + "://" + u.Host + oauthWellKnown + path}
	var errs []error
	for _, c := range candidates {
		uri, found, err := tryDiscovery(ctx, client, c, issuer, opt)
		if err == nil {
			return uri, nil
		}
		if found {
			// A document that answers with the wrong issuer or no usable
			// jwks_uri is an error, not a reason to try the next one.
			return "", err
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("%w: no metadata for issuer %s: %w", ErrDiscovery, issuer, errors.Join(errs...))
}

// tryDiscovery reads one metadata document. found reports that a JSON
// document was served, so that its errors are final.
func tryDiscovery(ctx context.Context, client *http.Client, docURL, issuer string, opt fetchOptions) (uri string, found bool, err error) {
	opt.etag = ""
	err = get(ctx, client, docURL, opt, func(_ *http.Response, body []byte) error {
		var doc struct {
			Issuer  *string `json:"issuer"`
			JWKSURI *string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return fmt.Errorf("metadata is not a valid JSON object: %v", reason(err))
		}
		found = true
		switch {
		case doc.Issuer == nil:
			return errors.New(`metadata has no "issuer"`)
		case *doc.Issuer != issuer:
			return fmt.Errorf("metadata names issuer %q, want exactly %q", truncate(*doc.Issuer, 200), issuer)
		case doc.JWKSURI == nil || *doc.JWKSURI == "":
			return errors.New(`metadata has no "jwks_uri"`)
		}
		ju, err := url.Parse(*doc.JWKSURI)
		if err != nil || (ju.Scheme != "https" && ju.Scheme != "http") || ju.Host == "" {
			return fmt.Errorf("jwks_uri %q is not an absolute http(s) URL", truncate(*doc.JWKSURI, 200))
		}
		uri = *doc.JWKSURI
		return nil
	})
	if err != nil {
		if found {
			return "", true, fmt.Errorf("%w: %w", ErrDiscovery, err)
		}
		return "", false, err
	}
	return uri, true, nil
}

// reason shortens a JSON decoder error without echoing its input.
func reason(err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) && se.Err != nil {
		return se.Err.Error()
	}
	return "not valid JSON"
}
