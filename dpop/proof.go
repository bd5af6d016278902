package dpop

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/keyward/keyward/jose"
)

// ProofSigner makes DPoP proofs with one key pair, for a client. It is safe
// for concurrent use.
type ProofSigner struct {
	signer *jose.Signer
	jkt    string
	now    func() time.Time
	rand   io.Reader
}

// NewProofSigner returns a signer of proofs with key, a private key (or a
// crypto.Signer held in a KMS or HSM) whose public half is RSA, ECDSA or
// Ed25519, under alg; an empty alg means the key's default (ES256 for a
// P-256 key, RS256 for RSA, EdDSA for Ed25519). now (nil: time.Now) gives
// each proof's "iat", and random (nil: crypto/rand) its "jti" and, for the
// algorithms that need it, the signature's randomness.
func NewProofSigner(key crypto.Signer, alg jose.Algorithm, now func() time.Time, random io.Reader) (*ProofSigner, error) {
	if alg.Symmetric() {
		return nil, fmt.Errorf("dpop: %s is symmetric; a proof needs a key pair", alg)
	}
	s, err := jose.NewSigner(key, alg, "")
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	jkt, err := jose.Thumbprint(s.Public())
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	if random == nil {
		random = rand.Reader
	}
	return &ProofSigner{signer: s, jkt: jkt, now: now, rand: random}, nil
}

// JKT returns the RFC 7638 SHA-256 thumbprint of the signer's public key:
// the "cnf.jkt" of the tokens bound to it, and the "dpop_jkt" of an
// authorization request (RFC 9449 §10).
func (s *ProofSigner) JKT() string { return s.jkt }

// Algorithm returns the algorithm of the proofs.
func (s *ProofSigner) Algorithm() jose.Algorithm { return s.signer.Algorithm() }

// proofClaims is the payload of a proof (RFC 9449 §4.2).
type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Sign returns a fresh proof for a request of method to target (its query
// and fragment are left out of "htu", and an internationalized host is
// written in its ASCII form, "xn--bcher-kva.example", as clients send it in
// the Host header), with the "ath" of accessToken when it is not "" and
// nonce when it is not "". It fails for a host that is not a valid
// internationalized domain name (IDNA 2008, lookup profile).
func (s *ProofSigner) Sign(method string, target *url.URL, accessToken, nonce string) (string, error) {
	if target == nil {
		return "", fmt.Errorf("dpop: no target URL")
	}
	u := *target
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	// An internationalized host goes in its ASCII form, the one the server
	// sees in the Host header, not percent-encoded as url.URL.String
	// writes it.
	host, err := asciiHostPort(&u)
	if err != nil {
		return "", fmt.Errorf("dpop: target URL: %w", err)
	}
	u.Host = host
	var id [16]byte
	if _, err := io.ReadFull(s.rand, id[:]); err != nil {
		return "", fmt.Errorf("dpop: jti: %w", err)
	}
	c := proofClaims{
		JTI:   base64.RawURLEncoding.EncodeToString(id[:]),
		HTM:   method,
		HTU:   u.String(),
		IAT:   s.now().Unix(),
		Nonce: nonce,
	}
	if accessToken != "" {
		c.ATH = ATH(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	proof, err := s.signer.SignEmbedded(ProofType, payload)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	return proof, nil
}

// NewProof returns a proof made with key (see [NewProofSigner]) under the
// key's default algorithm, now, for a request of method to rawURL, with
// the "ath" of accessToken and nonce when they are not "". Clients that
// make many proofs keep a [ProofSigner] instead.
func NewProof(key crypto.Signer, method, rawURL, accessToken, nonce string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	s, err := NewProofSigner(key, "", nil, nil)
	if err != nil {
		return "", err
	}
	return s.Sign(method, u, accessToken, nonce)
}
