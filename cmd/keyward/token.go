package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
)

// newTokenCmd is "keyward token", the group of sign, verify and inspect.
func newTokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Sign, verify and inspect JWTs",
	}
	cmd.AddCommand(newTokenSignCmd(a), newTokenVerifyCmd(a), newTokenInspectCmd(a))
	return cmd
}

// newTokenSignCmd is "keyward token sign".
func newTokenSignCmd(a *app) *cobra.Command {
	var (
		keyPath, secretFile, alg, kid, iss, sub, typ, claimsFile string
		aud, claimArgs                                           []string
		ttl                                                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sign (--key private.pem | --secret-file FILE) [--claim k=v]...",
		Short: "Sign a JWT and print it",
		Long: `Sign a JWT with a private key (PEM or JWK) and print it on stdout.

"iat" is now, "exp" now + --ttl and "jti" a random ID, unless the claims
given set them. --claims FILE (a JSON object; "-" for stdin) comes first,
then each --claim, then --iss, --sub and --aud. A --claim value keeps its
JSON type when it is JSON: userId=123 is a number, admin=true a boolean,
x=null null, roles='["a","b"]' an array; anything else (email=a@b.c, or
id='"123"' to force a string) is a string.

The header's "kid" is the key's RFC 7638 thumbprint (the one keygen prints
and jwks publishes) unless --kid says otherwise; --kid "" leaves it out.
HS256/384/512 take a shared secret from --secret-file (the file's bytes,
without one trailing newline, at least 32 of them); a secret is never
accepted on the command line.`,
		Example: `  keyward token sign --key private.pem --ttl 1h --claim userId=123 --claim email=user@example.com --claim role=admin
  keyward token sign --key private.pem --iss http://localhost:4000 --sub alice --aud api --claims extra.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (keyPath == "") == (secretFile == "") {
				return cli.Usagef("give exactly one of --key (a private key file) and --secret-file (a shared secret for HS*)")
			}
			if ttl <= 0 {
				return cli.Usagef("--ttl %s: want a positive duration such as 15m or 1h; verifiers require exp", ttl)
			}
			var algorithm jose.Algorithm
			if alg != "" {
				var err error
				if algorithm, err = jose.ParseAlgorithm(alg); err != nil {
					return cli.Usagef("--alg %q: want one of %s", alg, algorithmNames(jose.Algorithms()))
				}
			}
			key, keyID, err := signingKey(a, keyPath, secretFile, &algorithm)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("kid") {
				keyID = kid
			}

			members := map[string]jsontext.Value{}
			if claimsFile != "" {
				data, err := cli.ReadFile(claimsFile, a.stdin)
				if err != nil {
					return fmt.Errorf("--claims: %w", err)
				}
				if i := bytes.IndexFunc(data, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }); i < 0 || data[i] != '{' {
					return cli.Usagef("--claims %s: want a JSON object", claimsFile)
				}
				if err := json.Unmarshal(data, &members); err != nil {
					return cli.Usagef("--claims %s: not a valid JSON object (duplicate names are refused): %v", claimsFile, err)
				}
			}
			for _, c := range claimArgs {
				name, value, err := parseClaim(c)
				if err != nil {
					return err
				}
				members[name] = value
			}
			setString := func(name, v string) {
				if v != "" {
					members[name] = jsontext.Value(quote(v))
				}
			}
			setString("iss", iss)
			setString("sub", sub)
			switch len(aud) {
			case 0:
			case 1:
				setString("aud", aud[0])
			default:
				v, err := json.Marshal(aud)
				if err != nil {
					return err
				}
				members["aud"] = v
			}
			now := a.now().Unix()
			if _, ok := members["exp"]; ok && cmd.Flags().Changed("ttl") {
				return cli.Usagef("give either --ttl or an exp claim, not both")
			}
			if _, ok := members["iat"]; !ok {
				members["iat"] = jsontext.Value(fmt.Sprint(now))
			}
			if _, ok := members["exp"]; !ok {
				members["exp"] = jsontext.Value(fmt.Sprint(now + int64(ttl/time.Second)))
			}
			if _, ok := members["jti"]; !ok {
				members["jti"] = jsontext.Value(quote(rand.Text()))
			}
			payload, err := json.Marshal(members, json.Deterministic(true))
			if err != nil {
				return err
			}
			if _, err := jose.ParseClaims(payload); err != nil {
				return cli.Usagef("the claims are not a valid JWT claims set: %v", trimJose(err))
			}
			signer, err := jose.NewSigner(key, algorithm, keyID)
			if err != nil {
				return err
			}
			tok, err := signer.Sign(typ, payload)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "private key file (PEM or JWK)")
	f.StringVar(&secretFile, "secret-file", "", "file holding a shared secret, for HS256/384/512")
	f.StringVar(&alg, "alg", "", "algorithm (default: the one the key implies, HS256 for a secret)")
	f.StringVar(&kid, "kid", "", "key ID for the header (default: the key's thumbprint; none for a secret)")
	f.StringVar(&iss, "iss", "", "issuer claim")
	f.StringVar(&sub, "sub", "", "subject claim")
	f.StringArrayVar(&aud, "aud", nil, "audience claim (repeat for several)")
	f.DurationVar(&ttl, "ttl", time.Hour, "lifetime: exp = now + ttl")
	f.StringArrayVarP(&claimArgs, "claim", "c", nil, "claim name=value, value as JSON when it parses (repeat)")
	f.StringVar(&claimsFile, "claims", "", `file with a JSON object of claims ("-" for stdin)`)
	f.StringVar(&typ, "typ", "JWT", `header "typ" ("at+jwt" for RFC 9068 access tokens)`)
	return cmd
}

// signingKey loads the key of token sign and settles its algorithm (when
// *alg is empty, the key's own or implied one) and default key ID.
func signingKey(a *app, keyPath, secretFile string, alg *jose.Algorithm) (key any, kid string, err error) {
	if secretFile != "" {
		secret, err := readSecret(secretFile, a.stdin)
		if err != nil {
			return nil, "", err
		}
		if *alg == "" {
			*alg = jose.HS256
		}
		if !alg.Symmetric() {
			return nil, "", cli.Usagef("--secret-file signs HS256, HS384 or HS512 only, not %s", *alg)
		}
		return secret, "", nil
	}
	keys, err := cli.ReadKeys(keyPath, a.stdin)
	if err != nil {
		return nil, "", fmt.Errorf("--key: %w", err)
	}
	if len(keys) != 1 {
		return nil, "", fmt.Errorf("--key %s holds %d keys; give a file with one private key", keyPath, len(keys))
	}
	k := keys[0]
	switch k.Key.(type) {
	case jose.SharedSecret:
		return nil, "", cli.Usagef("--key %s holds a shared secret; give it with --secret-file", keyPath)
	case crypto.Signer:
	default:
		return nil, "", fmt.Errorf("--key %s holds a public key; token sign needs the private key (the --out file of keyward keygen)", keyPath)
	}
	if *alg == "" {
		*alg = k.Algorithm
	}
	if *alg == "" {
		if *alg, err = jose.DefaultAlgorithm(k.Key); err != nil {
			return nil, "", err
		}
	}
	if !k.Accepts(*alg) {
		return nil, "", cli.Usagef("--alg %s does not suit the %s in %s", *alg, keyType(k.Key), keyPath)
	}
	return k.Key, k.KeyID, nil
}

// readSecret reads a shared secret file: its bytes without one trailing
// newline (which editors and echo add). The secret never appears in errors.
func readSecret(path string, stdin io.Reader) (jose.SharedSecret, error) {
	data, err := cli.ReadFile(path, stdin)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	return jose.SharedSecret(data), nil
}

// parseClaim parses one --claim name=value.
func parseClaim(arg string) (string, jsontext.Value, error) {
	name, value, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return "", nil, cli.Usagef("--claim %q: want name=value", arg)
	}
	v := jsontext.Value(value)
	if strings.TrimSpace(value) != "" && v.IsValid() {
		return name, v.Clone(), nil
	}
	return name, jsontext.Value(quote(value)), nil
}

// quote returns s as a JSON string.
func quote(s string) []byte {
	b, _ := jsontext.AppendQuote(nil, s)
	return b
}

// newTokenVerifyCmd is "keyward token verify".
func newTokenVerifyCmd(a *app) *cobra.Command {
	var (
		keyPaths, iss, aud                   []string
		secretFile, jwksSource, issuer, algs string
		leeway                               time.Duration
		explain                              bool
	)
	cmd := &cobra.Command{
		Use:   "verify (--key public.pem | --jwks FILE|URL | --issuer URL | --secret-file FILE) TOKEN|-",
		Short: "Verify a JWT and print its header and claims",
		Long: `Verify a JWT's signature and claims and print its header and claims as JSON.
On failure exit 1 with one line on stderr; --explain makes that line say
exactly why (expired 3m12s ago, aud is x, want y, kid "k" is not in the
key set [k1 k2]).

Keys come from one place: --key (PEM or JWK files, repeatable; a PEM key
verifies a token whatever its kid), --jwks (a JWK set file, or an http(s)
URL fetched once), --issuer (the issuer's discovery document names its
JWKS; iss must then be the issuer unless --iss says otherwise), or
--secret-file for HS*. Headers that carry keys (jwk, jku, x5u, x5c) are
refused, never followed.

--algs defaults to every algorithm the keys can verify (a key declared
for one algorithm allows that one; an RSA key without one allows RS* and
PS*). exp is required; --leeway tolerates clock skew.`,
		Example: `  keyward token verify --key public.pem "$TOKEN"
  echo "$TOKEN" | keyward token verify --jwks http://localhost:4000/jwks.json --iss http://localhost:4000 --aud api -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, given := range []bool{len(keyPaths) > 0, secretFile != "", jwksSource != "", issuer != ""} {
				if given {
					n++
				}
			}
			if n != 1 {
				return cli.Usagef("give exactly one key source: --key, --jwks, --issuer or --secret-file")
			}
			token, err := readToken(args[0], a.stdin)
			if err != nil {
				return err
			}
			keys, err := verificationKeys(cmd.Context(), a, keyPaths, secretFile, jwksSource, issuer)
			if err != nil {
				return err
			}
			if issuer != "" && len(iss) == 0 {
				iss = []string{issuer}
			}
			var allowed jose.AlgorithmSet
			if algs != "" {
				if allowed, err = jose.ParseAlgorithmSet(algs); err != nil {
					return cli.Usagef("--algs %q: %v", algs, trimJose(err))
				}
			} else if allowed, err = keys.algorithms(); err != nil {
				return err
			}
			policy := &jose.Policy{Issuers: iss, Audiences: aud, Leeway: leeway, Now: a.now}
			out, err := verifyToken(token, keys, allowed, policy)
			if err != nil {
				return rejected(err, keys, explain)
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&keyPaths, "key", nil, "public (or private) key file, PEM or JWK (repeatable)")
	f.StringVar(&jwksSource, "jwks", "", "JWK set: a file, or an http(s) URL")
	f.StringVar(&issuer, "issuer", "", "issuer URL whose discovery metadata names its JWKS")
	f.StringVar(&secretFile, "secret-file", "", "file holding a shared secret, for HS256/384/512")
	f.StringArrayVar(&iss, "iss", nil, "accepted issuer (repeatable; default: --issuer, else not checked)")
	f.StringArrayVar(&aud, "aud", nil, "accepted audience (repeatable; default: not checked)")
	f.StringVar(&algs, "algs", "", "accepted algorithms, e.g. RS256,ES256 (default: what the keys imply)")
	f.DurationVar(&leeway, "leeway", 30*time.Second, "clock skew tolerated on exp, nbf and iat")
	f.BoolVar(&explain, "explain", false, "say exactly why a token is rejected")
	return cmd
}

// readToken reads a token argument; "-" reads stdin.
func readToken(arg string, stdin io.Reader) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	// Read a little more than the largest token accepted, so that an
	// oversized one is refused as such by the parser.
	data, err := io.ReadAll(io.LimitReader(stdin, 4*jose.DefaultMaxTokenSize))
	if err != nil {
		return "", fmt.Errorf("reading the token from stdin: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// keySet is the verification key set of token verify: keys looked up by
// kid, and keys given as PEM (or a shared secret), which carry no kid of
// their own and so match a token whatever its kid says.
type keySet struct {
	byID    []*jose.JWK
	anyID   []*jose.JWK
	skipped []jose.SkippedKey
}

// Lookup implements jose.KeySet.
func (s *keySet) Lookup(kid string) []*jose.JWK {
	if kid == "" {
		return append(slices.Clip(s.byID), s.anyID...)
	}
	var out []*jose.JWK
	for _, k := range s.byID {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return s.anyID
	}
	return out
}

// keyIDs lists the key IDs a token's kid may name.
func (s *keySet) keyIDs() []string {
	ids := make([]string, 0, len(s.byID))
	for _, k := range s.byID {
		ids = append(ids, k.KeyID)
	}
	return ids
}

// algorithms returns every algorithm some key of the set verifies.
func (s *keySet) algorithms() (jose.AlgorithmSet, error) {
	var algs []jose.Algorithm
	for _, alg := range jose.Algorithms() {
		for _, k := range append(slices.Clip(s.byID), s.anyID...) {
			if k.Accepts(alg) {
				algs = append(algs, alg)
				break
			}
		}
	}
	if len(algs) == 0 {
		return 0, errors.New("no key of the key set can verify any algorithm")
	}
	return jose.NewAlgorithmSet(algs...)
}

// verificationKeys loads the key set of token verify from its one source.
func verificationKeys(ctx context.Context, a *app, keyPaths []string, secretFile, jwksSource, issuer string) (*keySet, error) {
	s := &keySet{}
	switch {
	case secretFile != "":
		secret, err := readSecret(secretFile, a.stdin)
		if err != nil {
			return nil, err
		}
		k, err := jose.NewJWK(secret, "")
		if err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		s.anyID = append(s.anyID, k)
	case len(keyPaths) > 0:
		for _, p := range keyPaths {
			data, err := cli.ReadFile(p, a.stdin)
			if err != nil {
				return nil, fmt.Errorf("--key: %w", err)
			}
			keys, err := cli.ParseKeys(data)
			if err != nil {
				return nil, fmt.Errorf("--key %s: %w", p, err)
			}
			isJSON := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
			for _, k := range keys {
				if _, ok := k.Key.(jose.SharedSecret); ok {
					return nil, cli.Usagef("--key %s holds a shared secret; give it with --secret-file", p)
				}
				pub, err := k.Public()
				if err != nil {
					return nil, fmt.Errorf("--key %s: %w", p, err)
				}
				if isJSON {
					s.byID = append(s.byID, pub)
				} else {
					s.anyID = append(s.anyID, pub)
				}
			}
		}
	default:
		source := jwksSource
		if issuer != "" {
			uri, err := jwks.Discover(ctx, jwks.NewClient(), issuer)
			if err != nil {
				return nil, err
			}
			source = uri
		}
		var set *jose.JWKS
		if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
			var err error
			if set, err = jwks.Fetch(ctx, jwks.NewClient(), source); err != nil {
				return nil, err
			}
		} else {
			data, err := cli.ReadFile(source, a.stdin)
			if err != nil {
				return nil, fmt.Errorf("--jwks: %w", err)
			}
			if set, err = jose.ParseJWKS(data); err != nil {
				return nil, fmt.Errorf("--jwks %s: %w (for a single JWK or a PEM key, use --key)", source, err)
			}
		}
		if len(set.Keys) == 0 {
			return nil, fmt.Errorf("the JWK set %s has no usable key%s", source, skippedNote(set.Skipped))
		}
		s.byID, s.skipped = set.Keys, set.Skipped
	}
	return s, nil
}

// verifyToken verifies token and returns its header and claims as indented
// JSON: {"header": ..., "claims": ...}, each exactly as the token has it.
func verifyToken(token string, keys jose.KeySet, algs jose.AlgorithmSet, policy *jose.Policy) ([]byte, error) {
	j, err := jose.Parse(token)
	if err != nil {
		return nil, err
	}
	if _, err := j.Verify(keys, algs); err != nil {
		return nil, err
	}
	claims, err := jose.ParseClaims(j.UnsafePayload())
	if err != nil {
		return nil, err
	}
	if err := policy.Validate(&j.Header, claims); err != nil {
		return nil, err
	}
	h64, _, _ := strings.Cut(token, ".")
	header, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"header":`)
	b.Write(header)
	b.WriteString(`,"claims":`)
	b.Write(j.UnsafePayload())
	b.WriteString(`}`)
	return indent(b.Bytes())
}

// tokenCategories are the reasons a token is rejected, most specific first.
var tokenCategories = []error{
	jose.ErrTooLarge, jose.ErrMalformed, jose.ErrUnsupported, jose.ErrAlgorithmNotAllowed,
	jose.ErrKeyNotFound, jose.ErrSignature, jose.ErrInvalidKey, jose.ErrExpired,
	jose.ErrNotYetValid, jose.ErrIssuer, jose.ErrAudience, jose.ErrMissingClaim, jose.ErrType,
}

// rejected turns a verification failure into the one-line error of token
// verify: the category, or with explain the exact reason.
func rejected(err error, keys *keySet, explain bool) error {
	var category error
	for _, c := range tokenCategories {
		if errors.Is(err, c) {
			category = c
			break
		}
	}
	if category == nil {
		return &rejection{reason: trimJose(err), err: err}
	}
	if !explain {
		return &rejection{reason: trimJose(category) + " (--explain says why)", err: err}
	}
	reason := strings.TrimPrefix(err.Error(), category.Error()+": ")
	if reason == err.Error() || reason == "" {
		reason = trimJose(err)
	}
	if errors.Is(err, jose.ErrKeyNotFound) && strings.Contains(reason, "is not in the key set") {
		reason += " [" + strings.Join(keys.keyIDs(), " ") + "]" + skippedNote(keys.skipped)
	}
	return &rejection{reason: reason, err: err}
}

// rejection is the error of a rejected token: "token rejected: " and a
// reason, unwrapping to the verification error for errors.Is.
type rejection struct {
	reason string
	err    error
}

func (r *rejection) Error() string { return "token rejected: " + r.reason }
func (r *rejection) Unwrap() error { return r.err }

// skippedNote says which keys of a set were left out, for messages.
func skippedNote(skipped []jose.SkippedKey) string {
	if len(skipped) == 0 {
		return ""
	}
	parts := make([]string, 0, len(skipped))
	for _, s := range skipped {
		id := fmt.Sprintf("#%d", s.Index)
		if s.KeyID != "" {
			id = fmt.Sprintf("%q", s.KeyID)
		}
		parts = append(parts, id+": "+trimJoseText(s.Reason))
	}
	return "; left out of the set: " + strings.Join(parts, ", ")
}

// trimJose drops the "jose: " prefix of an error's message.
func trimJose(err error) string { return trimJoseText(err.Error()) }

func trimJoseText(s string) string { return strings.TrimPrefix(s, "jose: ") }
