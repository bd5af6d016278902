// Command gatetool holds the pieces of the gate load benchmark (gate.sh)
// that are not the gate itself: the keys and tokens, a JWKS server, the
// no-auth ceiling, the golang-jwt + keyfunc comparison server, a timing of
// the raw RS256 check, alone and behind the ceiling's routes, and for the
// proxy rows an upstream API and a plain reverse proxy with no
// authentication in front of it.
//
//	gatetool gen      -dir DIR -issuer URL -audience AUD [-n 1000]
//	gatetool jwks     -listen ADDR -file DIR/jwks.json
//	gatetool noauth   -listen ADDR
//	gatetool keyfunc  -listen ADDR -jwks URL -issuer URL -audience AUD
//	gatetool rawcheck -dir DIR [-n 3000]
//	gatetool rawserver -listen ADDR -dir DIR
//	gatetool upstream -listen ADDR
//	gatetool plainproxy -listen ADDR -upstream URL [-pool]
package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/jose"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gatetool gen|jwks|noauth|keyfunc|rawcheck|rawserver|upstream|plainproxy [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"gen": gen, "jwks": serveJWKS, "noauth": noauth, "keyfunc": keyfuncServer, "rawcheck": rawcheck,
		"rawserver": rawServer, "upstream": upstream, "plainproxy": plainProxy,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gatetool: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "gatetool:", err)
		os.Exit(1)
	}
}

// gen makes an RS256 key, its JWKS and three token files: one token, n
// distinct tokens, and n distinct tokens whose signatures are corrupted.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "output directory")
	iss := fs.String("issuer", "", "iss of the tokens")
	aud := fs.String("audience", "api", "aud of the tokens")
	n := fs.Int("n", 1000, "distinct tokens")
	fs.Parse(args)
	if *dir == "" || *iss == "" {
		return errors.New("gen needs -dir and -issuer")
	}
	key, err := jose.GenerateKey(jose.RS256, 2048, nil)
	if err != nil {
		return err
	}
	jwk, err := jose.NewJWK(key, jose.RS256)
	if err != nil {
		return err
	}
	pub, err := jwk.Public()
	if err != nil {
		return err
	}
	set, err := (&jose.JWKS{Keys: []*jose.JWK{pub}}).MarshalJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "jwks.json"), set, 0o644); err != nil {
		return err
	}
	signer, err := jose.NewSigner(key, jose.RS256, jwk.KeyID)
	if err != nil {
		return err
	}
	now := time.Now()
	token := func(i int) (string, error) {
		return signer.SignJWT("JWT", &jose.Claims{
			Issuer:   *iss,
			Subject:  fmt.Sprintf("user-%d", i),
			Audience: jose.Audience{*aud},
			IssuedAt: jose.NewNumericDate(now),
			Expiry:   jose.NewNumericDate(now.Add(6 * time.Hour)),
			ID:       fmt.Sprintf("bench-%d", i),
			Extra:    map[string]any{"scope": "read write", "email": fmt.Sprintf("user-%d@example.com", i)},
		})
	}
	var distinct, bad []string
	for i := range *n {
		tok, err := token(i)
		if err != nil {
			return err
		}
		distinct = append(distinct, tok)
		// Flip bits in the middle of the signature: well-formed, wrong.
		b := []byte(tok)
		j := strings.LastIndexByte(tok, '.') + 20
		b[j] = flip(b[j])
		bad = append(bad, string(b))
	}
	files := map[string][]string{"tokens-repeated.txt": distinct[:1], "tokens-distinct.txt": distinct, "tokens-badsig.txt": bad}
	for name, toks := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(strings.Join(toks, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func flip(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// serve runs h on addr until SIGINT or SIGTERM.
func serve(addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func serveJWKS(args []string) error {
	fs := flag.NewFlagSet("jwks", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:4400", "address")
	file := fs.String("file", "", "jwks.json")
	fs.Parse(args)
	body, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	return serve(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Write(body)
	}))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// noauth is the ceiling: the same routes with no authentication at all.
func noauth(args []string) error {
	fs := flag.NewFlagSet("noauth", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:4401", "address")
	fs.Parse(args)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"message": "This is a public route"})
	})
	mux.HandleFunc("GET /protected", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"message": "You have accessed a protected route!", "claims": map[string]any{}})
	})
	return serve(*addr, mux)
}

// keyfuncServer is the usual Go answer: golang-jwt v5 with a JWKS from
// MicahParks/keyfunc v3, configured as strictly as the gate.
func keyfuncServer(args []string) error {
	fs := flag.NewFlagSet("keyfunc", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:4402", "address")
	jwksURL := fs.String("jwks", "", "JWKS URL")
	iss := fs.String("issuer", "", "issuer")
	aud := fs.String("audience", "api", "audience")
	fs.Parse(args)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k, err := keyfunc.NewDefaultCtx(ctx, []string{*jwksURL})
	if err != nil {
		return err
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(*iss), jwt.WithAudience(*aud),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"message": "This is a public route"})
	})
	mux.HandleFunc("GET /protected", func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			writeJSON(w, 401, map[string]string{"error": "unauthorized"})
			return
		}
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(tok, claims, k.Keyfunc); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			writeJSON(w, 401, map[string]string{"error": "invalid_token"})
			return
		}
		writeJSON(w, 200, map[string]any{"message": "You have accessed a protected route!", "claims": claims})
	})
	return serve(*addr, mux)
}

// benchKey reads the RSA public key of gen's JWKS in dir.
func benchKey(dir string) (*rsa.PublicKey, error) {
	setData, err := os.ReadFile(filepath.Join(dir, "jwks.json"))
	if err != nil {
		return nil, err
	}
	set, err := jose.ParseJWKS(setData)
	if err != nil {
		return nil, err
	}
	return set.Keys[0].Key.(*rsa.PublicKey), nil
}

// rawRS256 is the bare RS256 check of a compact token: SHA-256 of the
// signing input and rsa.VerifyPKCS1v15, nothing else (no header, no claims).
func rawRS256(pub *rsa.PublicKey, token string) error {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return errors.New("no signature")
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(token[:i]))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// rawServer is the ceiling's server doing one raw RS256 check per request
// to /protected: what one bare check costs inside a loaded HTTP server, next
// to the ceiling under the same conditions.
func rawServer(args []string) error {
	fs := flag.NewFlagSet("rawserver", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:4406", "address")
	dir := fs.String("dir", "", "directory of gen")
	fs.Parse(args)
	pub, err := benchKey(*dir)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"message": "This is a public route"})
	})
	mux.HandleFunc("GET /protected", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || rawRS256(pub, token) != nil {
			writeJSON(w, 401, map[string]string{"error": "invalid_token"})
			return
		}
		writeJSON(w, 200, map[string]any{"message": "You have accessed a protected route!", "claims": map[string]any{}})
	})
	return serve(*addr, mux)
}

// rawcheck times the bare RS256 check of a token: SHA-256 of the signing
// input and rsa.VerifyPKCS1v15, nothing else.
func rawcheck(args []string) error {
	fs := flag.NewFlagSet("rawcheck", flag.ExitOnError)
	dir := fs.String("dir", "", "directory of gen")
	n := fs.Int("n", 3000, "iterations")
	fs.Parse(args)
	pub, err := benchKey(*dir)
	if err != nil {
		return err
	}
	toks, err := os.ReadFile(filepath.Join(*dir, "tokens-repeated.txt"))
	if err != nil {
		return err
	}
	tok := strings.TrimSpace(string(toks))
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		return err
	}
	input := []byte(tok[:i])
	check := func() error {
		sum := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	}
	for range 200 {
		if err := check(); err != nil {
			return err
		}
	}
	start := time.Now()
	for range *n {
		_ = check()
	}
	fmt.Printf("%.2f\n", float64(time.Since(start).Microseconds())/float64(*n))
	return nil
}

// upstream is the API behind the proxies of the proxy rows: every path
// answers a small JSON object, as an API's GET of one resource does.
func upstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:4411", "address")
	fs.Parse(args)
	body := []byte(`{"id":7,"status":"shipped","items":[{"sku":"A-1","qty":2}]}` + "\n")
	return serve(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(body)
	}))
}

// plainProxy is the baseline of the proxy rows: httputil.ReverseProxy as
// its documentation shows it (Rewrite with SetURL and SetXForwarded), no
// authentication, with the connection pool of keyward gate's transport so
// that both keep the same connections open to the upstream. -pool gives it
// a pool of 32 KiB copy buffers, as keyward gate has; without it
// ReverseProxy allocates one for each request.
func plainProxy(args []string) error {
	fs := flag.NewFlagSet("plainproxy", flag.ExitOnError)
	addr := fs.String("listen", "127.0.0.1:4412", "address")
	up := fs.String("upstream", "", "upstream URL")
	pool := fs.Bool("pool", false, "pool the copy buffers")
	fs.Parse(args)
	u, err := url.Parse(*up)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-upstream %q is not an absolute URL", *up)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: t,
	}
	if *pool {
		p.BufferPool = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
	}
	return serve(*addr, p)
}

// bufferPool is a pool of copy buffers for httputil.ReverseProxy.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte { return *b.p.Get().(*[]byte) }

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
