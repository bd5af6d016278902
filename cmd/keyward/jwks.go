package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/jose"
)

// newJWKSCmd is "keyward jwks".
func newJWKSCmd(a *app) *cobra.Command {
	var alg string
	cmd := &cobra.Command{
		Use:   "jwks KEYFILE...",
		Short: "Print the public JWK set of PEM keys or certificates",
		Long: `Read public or private keys (PEM: PKCS#1, PKCS#8, SEC1, PKIX) or X.509
certificates, or JWKs, and print their public halves as a JWK set on stdout,
ready to be served at /.well-known/jwks.json. Each key gets its RFC 7638
thumbprint as "kid" and the algorithm it implies as "alg" (RS256 for RSA,
ES256/ES384/ES512 for the EC curves, EdDSA for Ed25519), or --alg. Private
material is never printed. "-" reads stdin.`,
		Example: `  keyward jwks public.pem > jwks.json
  keyward jwks --alg PS256 old.pem new.pem`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var bind jose.Algorithm
			if alg != "" {
				var err error
				if bind, err = jose.ParseAlgorithm(alg); err != nil || bind.Symmetric() {
					return cli.Usagef("--alg %q: want one of %s", alg, algorithmNames(asymmetricAlgorithms))
				}
			}
			set := &jose.JWKS{}
			seen := map[string]bool{}
			for _, path := range args {
				keys, err := cli.ReadKeys(path, a.stdin)
				if err != nil {
					return err
				}
				for _, k := range keys {
					pub, err := publicJWK(k, bind)
					if err != nil {
						return fmt.Errorf("%s: %w", path, err)
					}
					id := pub.KeyID + "\x00" + string(pub.Algorithm)
					if seen[id] {
						continue
					}
					seen[id] = true
					set.Keys = append(set.Keys, pub)
				}
			}
			data, err := indentJSON(set)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&alg, "alg", "", "algorithm to bind every key to (default: the one its type implies)")
	return cmd
}

// publicJWK returns the public half of k for a published key set, bound to
// alg, or to the key's own algorithm, or to the one its type implies, with
// the thumbprint as key ID when it has none.
func publicJWK(k *jose.JWK, alg jose.Algorithm) (*jose.JWK, error) {
	if _, ok := k.Key.(jose.SharedSecret); ok {
		return nil, fmt.Errorf("%w: a shared secret is never published in a JWK set", jose.ErrInvalidKey)
	}
	pub, err := k.Public()
	if err != nil {
		return nil, err
	}
	switch {
	case alg != "":
		if k.Algorithm != "" && k.Algorithm != alg {
			return nil, fmt.Errorf("%w: the key is declared for %s, not %s", jose.ErrAlgorithmNotAllowed, k.Algorithm, alg)
		}
		if !pub.Accepts(alg) {
			return nil, fmt.Errorf("%w: a %s key cannot be used with %s", jose.ErrAlgorithmNotAllowed, keyType(pub.Key), alg)
		}
		pub.Algorithm = alg
	case pub.Algorithm == "":
		if pub.Algorithm, err = jose.DefaultAlgorithm(pub.Key); err != nil {
			return nil, err
		}
	}
	pub.Use = "sig"
	if pub.KeyID == "" {
		if pub.KeyID, err = pub.Thumbprint(); err != nil {
			return nil, err
		}
	}
	return pub, nil
}
