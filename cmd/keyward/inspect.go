package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/jose"
)

// inspectWarning is the first line of token inspect's output.
const inspectWarning = "WARNING: not verified — decoded only; anyone can write a token that says this"

// newTokenInspectCmd is "keyward token inspect".
func newTokenInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect TOKEN|-",
		Short: "Decode a JWT without verifying it",
		Long: `Decode a JWT's header and claims and print them, with exp, iat and nbf as
dates, WITHOUT verifying anything: the first line of the output says so.
It also says when keyward would refuse the token before even checking its
signature (alg "none", an embedded key, a malformed segment...). Use
token verify to trust a token. Exits 1 when the token cannot be decoded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			token, err := readToken(args[0], a.stdin)
			if err != nil {
				return err
			}
			return inspect(a.stdout, token, a.now())
		},
	}
}

// inspect writes the decoded token to w.
func inspect(w io.Writer, token string, now time.Time) error {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return fmt.Errorf("not a compact JWS: it has %d segments, a JWT has 3 (header.payload.signature)", strings.Count(token, ".")+1)
	}
	header, err := decodeJSONSegment(h64, "header")
	if err != nil {
		return err
	}
	payload, err := decodeJSONSegment(p64, "payload")
	if err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		return fmt.Errorf("the signature is not unpadded base64url")
	}

	var b strings.Builder
	b.WriteString(inspectWarning + "\n")
	b.WriteString("header:\n")
	b.Write(header)
	b.WriteString("claims:\n")
	b.Write(payload)
	var times map[string]jsontext.Value
	if json.Unmarshal(payload, &times) == nil {
		for _, name := range []string{"iat", "nbf", "exp"} {
			v, ok := times[name]
			if !ok {
				continue
			}
			var sec float64
			if json.Unmarshal(v, &sec) != nil || math.IsNaN(sec) || math.Abs(sec) > 1e11 {
				fmt.Fprintf(&b, "%s: %s is not a NumericDate\n", name, v)
				continue
			}
			t := time.Unix(int64(sec), 0).UTC()
			fmt.Fprintf(&b, "%s: %s (%s)\n", name, t.Format(time.RFC3339), relative(t, now))
		}
	}
	fmt.Fprintf(&b, "signature: %d bytes\n", len(sig))
	if j, err := jose.Parse(token); err != nil {
		fmt.Fprintf(&b, "note: keyward refuses this token before checking any signature: %s\n", trimJose(err))
	} else if _, err := jose.ParseClaims(j.UnsafePayload()); err != nil {
		fmt.Fprintf(&b, "note: keyward refuses these claims: %s\n", trimJose(err))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// decodeJSONSegment decodes a base64url segment holding JSON and indents
// it.
func decodeJSONSegment(seg, what string) ([]byte, error) {
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("the %s is not unpadded base64url", what)
	}
	out, err := indent(data)
	if err != nil {
		return nil, fmt.Errorf("the %s is not valid JSON", what)
	}
	return out, nil
}

// relative says how far t is from now, in words: "in 59m58s", "3m12s ago".
func relative(t, now time.Time) string {
	d := t.Sub(now).Truncate(time.Second)
	switch {
	case d > 0:
		return "in " + shortDuration(d)
	case d < 0:
		return shortDuration(-d) + " ago"
	}
	return "now"
}

// shortDuration formats d without zero units: 1h, 59m58s, 2d3h.
func shortDuration(d time.Duration) string {
	var b strings.Builder
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
