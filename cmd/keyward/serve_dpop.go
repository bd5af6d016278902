package main

import (
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/issuer"
)

// dpopNoncePeriod is how often serve's DPoP nonces change; a nonce is
// accepted in its period and the next, so a proof that carries one was made
// at most two periods ago.
const dpopNoncePeriod = 5 * time.Minute

// dpopNonces returns the server nonces of serve --dpop-nonce, nil when on is
// false. Their secret is derived from the master key
// ([issuer.DPoPNonceKey]), so every replica that shares the master key
// accepts the nonces of the others, and a restart keeps them valid. masterKey
// is the one serve already read, nil when it needed none (a --signing-key
// that signs RS256): the master key is then read, or created, from sf, for
// the nonces alone.
func dpopNonces(on bool, masterKey []byte, sf *storeFlags) (*dpop.Nonces, error) {
	if !on {
		return nil, nil
	}
	if masterKey == nil {
		var err error
		if masterKey, err = sf.masterKey(true); err != nil {
			return nil, err
		}
	}
	secret, err := issuer.DPoPNonceKey(masterKey)
	if err != nil {
		return nil, err
	}
	return dpop.NewNonces(secret, dpopNoncePeriod, nil)
}
