package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/jose"
)

// asymmetricAlgorithms are the algorithms keygen makes key pairs for.
var asymmetricAlgorithms = []jose.Algorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func algorithmNames(algs []jose.Algorithm) string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, "|")
}

// newKeygenCmd is "keyward keygen".
func newKeygenCmd(a *app) *cobra.Command {
	var (
		alg, out, pub, jwk string
		bits               int
		force              bool
	)
	cmd := &cobra.Command{
		Use:   "keygen --out private.pem [--pub public.pem] [--jwk public.jwk]",
		Short: "Generate a key pair for signing tokens",
		Long: `Generate a key pair. The private key is written as PKCS#8 PEM with mode 0600,
the public key as PKIX PEM (--pub) and as a JWK with its algorithm and its
RFC 7638 thumbprint as "kid" (--jwk). Existing files are never overwritten
without --force. The key ID is printed on stdout.`,
		Example: `  keyward keygen --alg RS256 --out private.pem --pub public.pem
  keyward keygen --alg EdDSA --out ed.pem --jwk ed.jwk`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			algorithm, err := jose.ParseAlgorithm(alg)
			if err != nil || algorithm.Symmetric() {
				return cli.Usagef("--alg %q: want one of %s (for HS256 a shared secret is a file of random bytes, e.g. openssl rand -out secret 32)", alg, algorithmNames(asymmetricAlgorithms))
			}
			isRSAKey := isRSA(algorithm)
			if cmd.Flags().Changed("bits") && !isRSAKey {
				return cli.Usagef("--bits applies to RSA keys only, not %s", algorithm)
			}
			if isRSAKey && (bits < jose.MinRSABits || bits > jose.MaxRSABits) {
				return cli.Usagef("--bits %d: want %d to %d", bits, jose.MinRSABits, jose.MaxRSABits)
			}
			if err := distinct(out, pub, jwk); err != nil {
				return err
			}
			if err := cli.CheckNew(force, out, pub, jwk); err != nil {
				return err
			}
			if !isRSAKey {
				bits = 0
			}
			key, err := jose.GenerateKey(algorithm, bits, nil)
			if err != nil {
				return err
			}
			privPEM, err := jose.MarshalPrivateKeyPEM(key)
			if err != nil {
				return err
			}
			public, err := jose.NewJWK(key, algorithm)
			if err != nil {
				return err
			}
			if public, err = public.Public(); err != nil {
				return err
			}
			if err := cli.WriteFile(out, privPEM, cli.PrivateFileMode, force); err != nil {
				return err
			}
			if pub != "" {
				pubPEM, err := jose.MarshalPublicKeyPEM(key)
				if err != nil {
					return err
				}
				if err := cli.WriteFile(pub, pubPEM, cli.PublicFileMode, force); err != nil {
					return err
				}
			}
			if jwk != "" {
				data, err := indentJSON(public)
				if err != nil {
					return err
				}
				if err := cli.WriteFile(jwk, data, cli.PublicFileMode, force); err != nil {
					return err
				}
			}
			fmt.Fprintln(a.stdout, public.KeyID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&alg, "alg", "RS256", "algorithm the key is for: "+algorithmNames(asymmetricAlgorithms))
	f.IntVar(&bits, "bits", jose.MinRSABits, "RSA modulus size in bits")
	f.StringVar(&out, "out", "", "file for the private key (PKCS#8 PEM, mode 0600)")
	f.StringVar(&pub, "pub", "", "file for the public key (PKIX PEM)")
	f.StringVar(&jwk, "jwk", "", "file for the public key as a JWK")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	cmd.MarkFlagRequired("out")
	return cmd
}

// distinct refuses the same path for two outputs.
func distinct(paths ...string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if seen[p] {
			return cli.Usagef("%s is given for two outputs; each needs its own file", p)
		}
		seen[p] = true
	}
	return nil
}

// isRSA reports whether alg is an RSA algorithm (RS* or PS*).
func isRSA(alg jose.Algorithm) bool {
	return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
}

// keyType names a key's type for messages, never its material.
func keyType(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d key", k.N.BitLen())
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d key", k.N.BitLen())
	case *ecdsa.PublicKey:
		return k.Curve.Params().Name + " key"
	case *ecdsa.PrivateKey:
		return k.Curve.Params().Name + " key"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519 key"
	case jose.SharedSecret:
		return "shared secret"
	}
	return fmt.Sprintf("%T", key)
}
