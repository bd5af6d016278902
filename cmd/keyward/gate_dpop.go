package main

import (
	"bytes"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/verifier"
)

// dpopFlags are the DPoP flags of keyward gate.
type dpopFlags struct {
	mode            string
	publicOrigin    string
	window          time.Duration
	nonceSecretFile string
	noncePeriod     time.Duration
}

func (d *dpopFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.mode, "dpop", "off", "DPoP-bound tokens (RFC 9449): off (Bearer only), allowed (Bearer or DPoP), required (DPoP only); a DPoP-bound token sent as Bearer is refused in every mode")
	f.StringVar(&d.publicOrigin, "public-origin", "", "scheme and host clients reach the gate at (e.g. https://api.example.com), which DPoP proofs name in htu; set it behind a TLS terminator or load balancer (default: the request's own, http and its Host header)")
	f.DurationVar(&d.window, "dpop-window", dpop.DefaultWindow, "how far a DPoP proof's iat may lie from the gate's clock, either way")
	f.StringVar(&d.nonceSecretFile, "dpop-nonce-secret-file", "", "file of at least 32 random bytes; when set, DPoP proofs must carry a server nonce (DPoP-Nonce) made with it; give every gate replica the same file")
	f.DurationVar(&d.noncePeriod, "dpop-nonce-period", time.Minute, "how often the DPoP nonce changes; a nonce is accepted for one to two periods")
}

// config validates the flags and returns the gate's DPoP configuration.
// Errors are usage errors and never quote the secret.
func (d *dpopFlags) config() (verifier.DPoPConfig, error) {
	mode, err := verifier.ParseDPoPMode(d.mode)
	if err != nil {
		return verifier.DPoPConfig{}, cli.Usagef("--dpop %q: want off, allowed or required", d.mode)
	}
	c := verifier.DPoPConfig{Mode: mode}
	if d.publicOrigin != "" {
		u, err := url.Parse(d.publicOrigin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return c, cli.Usagef("--public-origin %q: want a scheme and a host, such as https://api.example.com", d.publicOrigin)
		}
		c.Origin = u
	}
	if mode == verifier.DPoPOff {
		if d.nonceSecretFile != "" {
			return c, cli.Usagef("--dpop-nonce-secret-file needs --dpop allowed or required")
		}
		return c, nil
	}
	if d.window <= 0 {
		return c, cli.Usagef("--dpop-window must be positive")
	}
	cfg := dpop.Config{Window: d.window}
	if d.nonceSecretFile != "" {
		secret, err := cli.ReadFile(d.nonceSecretFile, nil)
		if err != nil {
			return c, fmt.Errorf("--dpop-nonce-secret-file: %w", err)
		}
		secret = bytes.TrimSuffix(bytes.TrimSuffix(secret, []byte("\n")), []byte("\r"))
		if len(secret) < dpop.MinNonceSecret {
			return c, cli.Usagef("--dpop-nonce-secret-file holds %d bytes; want at least %d random bytes (e.g. openssl rand -base64 48 > FILE)", len(secret), dpop.MinNonceSecret)
		}
		if d.noncePeriod <= 0 {
			return c, cli.Usagef("--dpop-nonce-period must be positive")
		}
		cfg.Nonces, err = dpop.NewNonces(secret, d.noncePeriod, nil)
		if err != nil {
			return c, cli.Usagef("%v", err)
		}
	}
	c.Checker, err = dpop.NewChecker(cfg)
	if err != nil {
		return c, cli.Usagef("%v", err)
	}
	return c, nil
}

// dpopInfo describes the gate's DPoP mode for its start-up line.
func dpopInfo(d *dpopFlags) string {
	s := d.mode
	if d.mode != "off" {
		s += ", window " + d.window.String()
		if d.nonceSecretFile != "" {
			s += ", nonces every " + d.noncePeriod.String()
		}
	}
	if d.publicOrigin != "" {
		s += ", public origin " + d.publicOrigin
	}
	return s
}
