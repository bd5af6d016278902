package jwks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/keyward/keyward/jose"
)

// Defaults of [CacheConfig].
const (
	// DefaultCacheSize bounds the URLs a [Cache] keeps a Set for.
	DefaultCacheSize = 1024
	// DefaultCacheMaxAge is the MaxTTL and MaxStale of each Set of a
	// [Cache].
	DefaultCacheMaxAge = time.Hour
)

// ErrDestination reports a key-set URL or a connection that a [Cache]
// refuses: not https, or a destination that is not a public address.
var ErrDestination = errors.New("jwks: destination refused")

// CacheConfig configures a [Cache]. Each zero value means the documented
// default, and the defaults are the safe choice for URLs that someone other
// than the operator supplies.
type CacheConfig struct {
	// Client makes the requests. Nil means a client like [NewClient]'s.
	// Its transport must be an *http.Transport unless AllowPrivate is set:
	// the Cache uses a clone of it whose dialer checks every address it
	// connects to, and which uses no proxy (a proxy would hide the
	// destination).
	Client *http.Client
	// Now is the clock of the Sets; nil means time.Now.
	Now func() time.Time
	// Size bounds the URLs held; the least recently used goes first. Zero
	// means [DefaultCacheSize] (1024).
	Size int
	// MaxAge is each Set's MaxTTL and MaxStale: a key removed from a set
	// stops being used within MaxAge, and a set that cannot be fetched is
	// used for at most MaxAge after its last successful fetch. Zero means
	// [DefaultCacheMaxAge] (1 hour).
	MaxAge time.Duration
	// AllowPrivate lets the Cache connect to addresses that are not public:
	// loopback, private (RFC 1918, RFC 4193), link-local (cloud metadata
	// services among them), CGNAT and other special-purpose ranges. False
	// refuses them at connection time, after name resolution, so neither a
	// URL nor a DNS answer (DNS rebinding) can turn the Cache into a probe
	// of the internal network.
	AllowPrivate bool
	// AllowLoopbackHTTP accepts plain http URLs whose host is localhost or
	// a loopback address, for development; the connection is still
	// refused unless AllowPrivate is set too. False requires https for
	// every URL: keys fetched over plain http can be swapped by anyone on
	// the path.
	AllowLoopbackHTTP bool
}

// Cache holds the remote key sets of many URLs, such as the JWKS URLs that
// OAuth clients register for private_key_jwt: one [Set] per URL, created on
// first use, in a bounded LRU. Each Set keeps its key set for the lifetime
// its server announces (1 minute to MaxAge), revalidates it, fetches again
// on an unknown kid within its token bucket, concurrent callers sharing one
// fetch, and retries every second while it has no usable set (see [Set]).
//
// A Cache is meant for URLs that arrive from outside: it accepts only https
// URLs (plain http to loopback only with AllowLoopbackHTTP), follows no
// redirect to another scheme or host, and connects only to public addresses
// unless AllowPrivate is set. It is safe for concurrent use, and starts no
// goroutine that outlives a fetch: the Sets are driven by lookups alone.
type Cache struct {
	cfg    CacheConfig
	client *http.Client

	mu   sync.Mutex // makes the lookup and the creation of a Set one step
	sets *lru.Cache[string, *Set]
}

// NewCache validates cfg and returns an empty Cache. It does no I/O.
func NewCache(cfg CacheConfig) (*Cache, error) {
	switch {
	case cfg.Size < 0:
		return nil, errors.New("jwks: negative CacheConfig.Size")
	case cfg.Size == 0:
		cfg.Size = DefaultCacheSize
	}
	switch {
	case cfg.MaxAge < 0:
		return nil, errors.New("jwks: negative CacheConfig.MaxAge")
	case cfg.MaxAge == 0:
		cfg.MaxAge = DefaultCacheMaxAge
	case cfg.MaxAge < DefaultMinTTL:
		return nil, fmt.Errorf("jwks: CacheConfig.MaxAge %s is under the minimum lifetime %s", cfg.MaxAge, DefaultMinTTL)
	}
	client := cfg.Client
	if client == nil {
		client = NewClient()
	}
	if !cfg.AllowPrivate {
		t, ok := client.Transport.(*http.Transport)
		if client.Transport == nil {
			t, ok = http.DefaultTransport.(*http.Transport)
		}
		if !ok {
			return nil, errors.New("jwks: CacheConfig.Client needs an *http.Transport to check destinations; set AllowPrivate to use another")
		}
		t = t.Clone()
		t.Proxy = nil
		d := &net.Dialer{Timeout: DefaultFetchTimeout, KeepAlive: 30 * time.Second, Control: publicOnly}
		t.DialContext = d.DialContext
		t.DialTLSContext = nil
		c := *client
		c.Transport = t
		client = &c
	}
	sets, err := lru.New[string, *Set](cfg.Size)
	if err != nil {
		return nil, err
	}
	return &Cache{cfg: cfg, client: client, sets: sets}, nil
}

// Keys returns a key set that holds kid's keys when the set at rawURL has
// them, as [Set.Keys] does, creating the URL's Set on first use. An error
// wraps [ErrDestination] for a URL the Cache refuses, or is ctx's, or is an
// [*UnavailableError] when the URL has no usable set; that one also wraps
// [ErrDestination] when the last fetch was refused a connection to an
// address that is not public.
func (c *Cache) Keys(ctx context.Context, rawURL, kid string) (jose.KeySet, error) {
	c.mu.Lock()
	set, ok := c.sets.Get(rawURL)
	if !ok {
		if err := c.checkURL(rawURL); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		var err error
		set, err = New(Config{URL: rawURL, Client: c.client, Now: c.cfg.Now, MaxTTL: c.cfg.MaxAge, MaxStale: c.cfg.MaxAge})
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.sets.Add(rawURL, set)
	}
	c.mu.Unlock()
	return set.Keys(ctx, kid)
}

// Len returns the number of URLs held.
func (c *Cache) Len() int { return c.sets.Len() }

// checkURL refuses a URL that is not https, unless it is plain http to a
// loopback host and AllowLoopbackHTTP is set.
func (c *Cache) checkURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: %q is not an absolute https URL without user info", ErrDestination, truncate(rawURL, 200))
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && c.cfg.AllowLoopbackHTTP && loopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%w: %s is not https", ErrDestination, truncate(rawURL, 200))
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// nonPublic returns the special-purpose ranges, beyond those netip.Addr's
// predicates name, that a public key-set URL never needs.
func nonPublic() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
		netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, which may reach private IPv4
		netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("2002::/16"),       // 6to4, which may embed private IPv4
		netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	}
}

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic() {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// publicOnly is a [net.Dialer] Control function: it refuses to connect to
// an address that is not public. It runs on the resolved address, after
// DNS, so a name that resolves to an internal address is refused too.
func publicOnly(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q", ErrDestination, address)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrDestination, ap.Addr())
	}
	return nil
}
