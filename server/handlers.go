package server

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

const (
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
)

// readBody reads the capped request body after checking its media type:
// form-encoded, or JSON too when allowJSON is set.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, allowJSON bool) (string, []byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case allowJSON && (err != nil || mt != mediaJSON && mt != mediaForm):
		return "", nil, errNotJSONOrForm
	case !allowJSON && (err != nil || mt != mediaForm):
		return "", nil, errNotForm
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, errTooLarge
		}
		return "", nil, errUnreadable
	}
	return mt, body, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// form is a parsed form body whose parameters each appear at most once
// (RFC 6749 §3.1).
type form map[string]string

func parseForm(body []byte) (form, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("malformed form body")
	}
	f := make(form, len(vals))
	for k, v := range vals {
		if len(v) > 1 {
			return nil, invalidRequest("parameter " + strconv.Quote(truncate(k)) + " repeated")
		}
		f[k] = v[0]
	}
	return f, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func invalidRequest(desc string) error {
	return &issuer.Error{Code: issuer.CodeInvalidRequest, Description: desc}
}

// writeToken writes a token response with the no-store headers of RFC 6749
// §5.1.
func writeToken(w http.ResponseWriter, resp *issuer.TokenResponse) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// loginRequest is the JSON body of /login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login handles POST /login: first-party login with a JSON or form body.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	mt, body, err := s.readBody(w, r, true)
	if err != nil {
		return err
	}
	var req loginRequest
	if mt == mediaJSON {
		// Strict: duplicate or wrongly cased member names are refused.
		// The decoder's message is not passed on: it could quote input.
		if err := json.Unmarshal(body, &req); err != nil {
			return invalidRequest("malformed JSON body: want {\"username\":\"...\",\"password\":\"...\"}")
		}
	} else {
		f, err := parseForm(body)
		if err != nil {
			return err
		}
		req.Username, req.Password = f["username"], f["password"]
	}
	resp, err := s.iss.Login(r.Context(), issuer.LoginRequest{Username: req.Username, Password: req.Password, RemoteAddr: clientAddr(r, s.cfg.TrustedProxies)})
	if err != nil {
		return err
	}
	writeToken(w, resp)
	return nil
}

// clientAuth is the outcome of client authentication on a request.
type clientAuth struct {
	client *keyward.Client // authenticated client, nil when none
	id     string          // client_id of an unauthenticated request
}

// authenticate reads client credentials from HTTP Basic
// (client_secret_basic, with RFC 6749 §2.3.1 form-encoding), from the body
// (client_secret_post) or a client assertion (private_key_jwt); more than
// one method is refused.
func (s *Server) authenticate(r *http.Request, f form) (clientAuth, error) {
	user, pass, basic := r.BasicAuth()
	postID, postSecret := f["client_id"], f["client_secret"]
	if f["client_assertion_type"] != "" || f["client_assertion"] != "" {
		return s.authenticateAssertion(r, f)
	}
	if basic {
		if postSecret != "" {
			return clientAuth{}, invalidRequest("more than one client authentication method")
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return clientAuth{}, &issuer.Error{Code: issuer.CodeInvalidClient, Description: "client authentication failed"}
		}
		if postID != "" && postID != id {
			return clientAuth{}, invalidRequest("client_id differs from the authenticated client")
		}
		if secret == "" {
			// "client_id:" in Basic, as some libraries send for public
			// clients: an identification, not an authentication.
			return clientAuth{id: id}, nil
		}
		c, err := s.iss.AuthenticateClient(r.Context(), id, secret)
		if err != nil {
			return clientAuth{}, err
		}
		return clientAuth{client: &c}, nil
	}
	if r.Header.Get("Authorization") != "" {
		return clientAuth{}, &issuer.Error{Code: issuer.CodeInvalidClient, Description: "unsupported Authorization scheme"}
	}
	if postSecret != "" {
		c, err := s.iss.AuthenticateClient(r.Context(), postID, postSecret)
		if err != nil {
			return clientAuth{}, err
		}
		return clientAuth{client: &c}, nil
	}
	return clientAuth{id: postID}, nil
}

// token handles POST /token (RFC 6749 §3.2).
func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	_, body, err := s.readBody(w, r, false)
	if err != nil {
		return err
	}
	f, err := parseForm(body)
	if err != nil {
		return err
	}
	grant := f["grant_type"]
	switch grant {
	case "":
		return invalidRequest("grant_type is required")
	case issuer.GrantRefreshToken, issuer.GrantClientCredentials, issuer.GrantAuthorizationCode:
	default:
		return &issuer.Error{Code: issuer.CodeUnsupportedGrantType, Description: "grant_type " + strconv.Quote(truncate(grant)) + " is not supported; use authorization_code, refresh_token or client_credentials"}
	}
	auth, err := s.authenticate(r, f)
	if err != nil {
		return err
	}
	var resp *issuer.TokenResponse
	switch grant {
	case issuer.GrantRefreshToken:
		if f["refresh_token"] == "" {
			return invalidRequest("refresh_token is required")
		}
		resp, err = s.iss.Refresh(r.Context(), issuer.RefreshRequest{
			Token: f["refresh_token"], Client: auth.client, ClientID: auth.id, Scope: f["scope"],
		})
	case issuer.GrantAuthorizationCode:
		resp, err = s.iss.ExchangeCode(r.Context(), issuer.CodeRequest{
			Code: f["code"], RedirectURI: f["redirect_uri"], CodeVerifier: f["code_verifier"], Client: auth.client, ClientID: auth.id,
		})
	case issuer.GrantClientCredentials:
		if auth.client == nil {
			return &issuer.Error{Code: issuer.CodeInvalidClient, Description: "client authentication is required"}
		}
		resp, err = s.iss.ClientCredentials(r.Context(), *auth.client, f["scope"])
	}
	if err != nil {
		return err
	}
	writeToken(w, resp)
	return nil
}

// revoke handles POST /revoke (RFC 7009): 200 with an empty body for any
// token, known or not, that the caller may revoke.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	_, body, err := s.readBody(w, r, false)
	if err != nil {
		return err
	}
	f, err := parseForm(body)
	if err != nil {
		return err
	}
	if f["token"] == "" {
		return invalidRequest("token is required")
	}
	auth, err := s.authenticate(r, f)
	if err != nil {
		return err
	}
	if err := s.iss.Revoke(r.Context(), issuer.RevokeRequest{
		Token: f["token"], TokenTypeHint: f["token_type_hint"], Client: auth.client, ClientID: auth.id,
	}); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// jwks handles GET /.well-known/jwks.json and /jwks.json.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	doc := s.iss.Keys().JWKS()
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(doc.MaxAge.Seconds())))
	h.Set("ETag", doc.ETag)
	if etagMatch(r.Header.Get("If-None-Match"), doc.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Content-Length", strconv.Itoa(len(doc.Body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc.Body)
	}
	return nil
}

// etagMatch implements the weak comparison of If-None-Match (RFC 9110
// §13.1.2).
func etagMatch(header, etag string) bool {
	for rest := header; rest != ""; {
		var tag string
		tag, rest, _ = strings.Cut(rest, ",")
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// metadata is the RFC 8414 / OpenID Connect Discovery document. Only what
// works is listed.
type metadata struct {
	Issuer                  string   `json:"issuer"`
	JWKSURI                 string   `json:"jwks_uri"`
	AuthorizationEndpoint   string   `json:"authorization_endpoint"`
	TokenEndpoint           string   `json:"token_endpoint"`
	UserinfoEndpoint        string   `json:"userinfo_endpoint"`
	EndSessionEndpoint      string   `json:"end_session_endpoint"`
	ScopesSupported         []string `json:"scopes_supported"`
	ResponseModes           []string `json:"response_modes_supported"`
	CodeChallengeMethods    []string `json:"code_challenge_methods_supported"`
	IssParameterSupported   bool     `json:"authorization_response_iss_parameter_supported"`
	RevocationEndpoint      string   `json:"revocation_endpoint"`
	IntrospectionEndpoint   string   `json:"introspection_endpoint"`
	IntrospectionAuth       []string `json:"introspection_endpoint_auth_methods_supported"`
	AuthSigningAlgs         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	GrantTypes              []string `json:"grant_types_supported"`
	ResponseTypes           []string `json:"response_types_supported"`
	TokenAuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethods   []string `json:"revocation_endpoint_auth_methods_supported"`
	SubjectTypes            []string `json:"subject_types_supported"`
	IDTokenAlgs             []string `json:"id_token_signing_alg_values_supported"`
	AccessTokenAlgs         []string `json:"access_token_signing_alg_values_supported"`
	ClaimsSupported         []string `json:"claims_supported"`
	FirstPartyLoginEndpoint string   `json:"login_endpoint"`
	ACRValues               []string `json:"acr_values_supported"`
}

// discovery handles GET /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server. The ID-token algorithms are
// those of the active keys, RS256 first (OIDC Discovery §3 requires it);
// the access-token algorithms those of the published primary keys.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) error {
	base := strings.TrimSuffix(s.iss.IssuerURL(), "/")
	names := func(algs []jose.Algorithm) []string {
		out := make([]string, len(algs))
		for i, a := range algs {
			out[i] = string(a)
		}
		return out
	}
	auth := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, metadata{
		Issuer:                  s.iss.IssuerURL(),
		JWKSURI:                 base + "/.well-known/jwks.json",
		AuthorizationEndpoint:   base + "/authorize",
		TokenEndpoint:           base + "/token",
		UserinfoEndpoint:        base + "/userinfo",
		EndSessionEndpoint:      base + "/logout",
		ScopesSupported:         issuer.OIDCScopes(),
		ResponseModes:           responseModes(),
		CodeChallengeMethods:    []string{"S256"},
		IssParameterSupported:   true,
		RevocationEndpoint:      base + "/revoke",
		IntrospectionEndpoint:   base + "/introspect",
		IntrospectionAuth:       auth,
		AuthSigningAlgs:         issuer.AssertionAlgorithms(),
		GrantTypes:              []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken, issuer.GrantClientCredentials},
		ResponseTypes:           []string{"code"},
		TokenAuthMethods:        append([]string{"none"}, auth...),
		RevocationAuthMethods:   append([]string{"none"}, auth...),
		SubjectTypes:            []string{"public"},
		IDTokenAlgs:             names(s.iss.Keys().IDTokenAlgorithms()),
		AccessTokenAlgs:         names(s.iss.Keys().AccessTokenAlgorithms()),
		ClaimsSupported:         []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "roles", "azp", "auth_time", "nonce", "sid", "preferred_username", "name", "email", "email_verified", "amr", "acr"},
		FirstPartyLoginEndpoint: base + "/login",
		ACRValues:               issuer.ACRValues(),
	})
	return nil
}

// healthz handles GET /healthz: the process serves.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz handles GET /readyz: 200 when the store answers, a primary key
// signs and, when the issuer keeps RS256 ID-token keys beside primary keys
// of another algorithm, RS256 ID tokens can be signed too.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Store.Ping(r.Context()); err != nil {
		return &issuer.Error{Code: issuer.CodeTemporarilyUnavailable, Description: "the store is unreachable", Err: err}
	}
	keys := s.iss.Keys()
	signer, err := keys.Signer()
	if err != nil {
		return &issuer.Error{Code: issuer.CodeTemporarilyUnavailable, Description: "no signing key is active", Err: err}
	}
	if idTokenKeyExpected(keys, signer) {
		if _, err := keys.IDTokenSigner(issuer.RequiredIDTokenAlgorithm); err != nil {
			return &issuer.Error{Code: issuer.CodeTemporarilyUnavailable, Description: "no RS256 ID-token signing key is active", Err: err}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// idTokenKeyExpected reports whether keys keeps RS256 ID-token keys
// ([keyward.KeyPurposeIDToken]) beside its primary keys, primary being the
// active primary signer: when the configured algorithm or the active
// primary key's is not RS256, except with a static key and no store, which
// offers no RS256 ID tokens by design.
func idTokenKeyExpected(keys *issuer.KeyManager, primary *jose.Signer) bool {
	cfg := keys.Config()
	if primary.Algorithm() == issuer.RequiredIDTokenAlgorithm && (keys.Static() || cfg.Alg == issuer.RequiredIDTokenAlgorithm) {
		return false
	}
	return !keys.Static() || cfg.Store != nil
}
