package main

import (
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
)

// requireDPoPHelp describes the --require-dpop flag of "client set".
const requireDPoPHelp = `--require-dpop (or --require-dpop=false) sets whether every token request
of the client must carry a DPoP proof (RFC 9449; client metadata
dpop_bound_access_tokens). Once set, the client's requests without a proof
are refused with invalid_dpop_proof, so all its new access tokens are bound
to a key it holds; tokens issued before keep working until they expire.`

// requireDPoPFlag is the --require-dpop flag of "client set".
type requireDPoPFlag struct {
	value bool
	set   *pflag.FlagSet
}

// register adds the flag to f.
func (d *requireDPoPFlag) register(f *pflag.FlagSet) {
	d.set = f
	f.BoolVar(&d.value, "require-dpop", false, "refuse the client's token requests without a DPoP proof (dpop_bound_access_tokens)")
}

// changed reports whether the flag was given.
func (d *requireDPoPFlag) changed() bool { return d.set.Changed("require-dpop") }

// apply copies the flag, when given, into c.
func (d *requireDPoPFlag) apply(c *keyward.Client) {
	if d.changed() {
		c.RequireDPoP = d.value
	}
}
