package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/keyward/keyward/verifier"
)

// ErrPolicy is wrapped by every error about a policy file's content; the
// message starts with the file's name and the line.
var ErrPolicy = errors.New("invalid policy")

// MaxPolicySize is the largest policy file read.
const MaxPolicySize = 1 << 20

// Defaults of a policy file.
const (
	// DefaultDeny refuses a request that no route matches, with 404.
	DefaultDeny = "deny"
	// DefaultAllowAuthenticated lets through a request that no route
	// matches when it carries a valid token of any configured issuer.
	DefaultAllowAuthenticated = "allow-authenticated"
)

// Settings of a policy file's "paths: encoded-slashes", for a request
// path that holds an encoded "/" ("%2F") or "\" ("%5C"). Routes match the
// decoded path, while an upstream that routes on the segments of the
// escaped path (Go's ServeMux, many frameworks) reads "/admin%2Fusers" as
// one segment: forwarded as sent, such a request could be served by
// another route than the one whose requirements the gate checked.
const (
	// EncodedSlashesReject refuses such a request with 400, as Envoy's
	// path_with_escaped_slashes_action REJECT_REQUEST does; a "\" in the
	// path, encoded or not, is refused too. It is the default.
	EncodedSlashesReject = "reject"
	// EncodedSlashesDecode forwards such a request with the decoded,
	// cleaned path that the gate matched ("/admin%2Fusers" reaches the
	// upstream as "/admin/users"), as Envoy's UNESCAPE_AND_FORWARD does,
	// so the upstream serves what the gate checked; for APIs whose
	// identifiers carry "%2F". A "\" still matches no route.
	EncodedSlashesDecode = "decode"
)

// Route names that the gate's own metrics use; a policy route may not take
// them.
const (
	routeHealth    = "health"
	routeMetrics   = "metrics"
	routeUnmatched = "unmatched"
)

// PolicySpec is a parsed policy file: the issuers whose tokens the gate
// accepts and the routes that say which requests need what. It is what
// [ParsePolicy] checked; [CompilePolicy] turns it into a [Policy].
type PolicySpec struct {
	// Path is the file's name, as given, for errors.
	Path string
	// Default is DefaultDeny or DefaultAllowAuthenticated.
	Default string
	// DefaultLine is the line of "default", 0 when absent.
	DefaultLine int
	// EncodedSlashes is EncodedSlashesReject or EncodedSlashesDecode
	// ("paths: encoded-slashes"). Under either, a path holding a double
	// encoding of "/", "\", "." or "%" ("%252F") is refused with 400: an
	// upstream or a second proxy that decodes twice would read another
	// path than the one matched.
	EncodedSlashes string
	// Issuers are the issuers, in the order of the file.
	Issuers []IssuerSpec
	// Routes are the routes, in the order of the file: the first that
	// matches a request decides.
	Routes []RouteSpec
}

// IssuerSpec is one entry of a policy file's "issuers" mapping.
type IssuerSpec struct {
	// Name is the mapping key: the issuer's name in routes, metrics and
	// logs ([verifier.Issuer]).
	Name string
	// Issuer is the exact "iss" of its tokens ("issuer"); without JWKSURL
	// and KeyFiles, its metadata names the JWK Set.
	Issuer string
	// JWKSURL is the JWK Set's URL ("jwks-url").
	JWKSURL string
	// KeyFiles are files of public keys ("key-files", PEM or JWK), read
	// with [verifier.LoadKeys], instead of a remote set; relative names
	// are relative to the policy file's directory.
	KeyFiles []string
	// Audiences are the accepted audiences ("audiences"); at least one.
	Audiences []string
	// Algorithms is the allowlist ("algs"), comma-separated; empty means
	// the gate's default.
	Algorithms string
	// Leeway is the clock skew allowed ("leeway"); LeewaySet tells
	// whether the file gave it (it may be 0s).
	Leeway    time.Duration
	LeewaySet bool
	// TokenType is "" or "at+jwt" ("token-type").
	TokenType string
	// Revocations is the URL of the issuer's revocation feed
	// ("revocations"), "" for none.
	Revocations string
	// Line is the line of the issuer's name.
	Line int
}

// RouteSpec is one entry of a policy file's "routes" list.
type RouteSpec struct {
	// Name names the route in metrics and logs: 1 to 64 characters of
	// a-z, 0-9, "-" and "_", unique in the file.
	Name string
	// Path is an exact path ("/orders"), or a prefix when it ends with
	// "/*" ("/orders/*" matches "/orders/" and every path under it, not
	// "/orders"); written decoded, since requests are matched on their
	// decoded path: "%", "?" and "#" are errors.
	Path string
	// Methods are the methods matched; empty means every method. GET
	// matches HEAD too.
	Methods []string
	// Public lets matching requests through without a token.
	Public bool
	// Issuers are the names of the issuers whose tokens the route
	// accepts; empty means every issuer of the file.
	Issuers []string
	// AllScopes, AnyScope, AllRoles and AnyRole are the route's scope
	// and role requirements (see [verifier.AllScopes] and the others).
	AllScopes, AnyScope, AllRoles, AnyRole []string
	// Claims are requirements on other claims.
	Claims []ClaimSpec
	// Line is the line where the route starts.
	Line int
}

// ClaimSpec is a requirement on one claim: it holds every value of All and
// at least one of Any (those given).
type ClaimSpec struct {
	Name     string   // the claim's name
	All, Any []string // the values it must all hold, and of which one
}

// PolicyError is an error about a policy file's content at a line. It
// wraps [ErrPolicy].
type PolicyError struct {
	File string // the file's name, as given
	Line int    // the line, counted from 1
	Msg  string // what is wrong, and where the fix is when one is known
}

// Error implements error: "file:line: invalid policy: msg".
func (e *PolicyError) Error() string {
	return fmt.Sprintf("%s:%d: %v: %s", e.File, e.Line, ErrPolicy, e.Msg)
}

// Unwrap returns [ErrPolicy].
func (e *PolicyError) Unwrap() error { return ErrPolicy }

// policyError returns a *PolicyError for line of file.
func policyError(file string, line int, format string, args ...any) error {
	return &PolicyError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// ParsePolicy parses a policy file named file in errors. Unknown keys, keys
// given twice, values of the wrong shape, routes that share a name, a
// route that can never match because an earlier one matches every request
// it would (a duplicate included), and a route naming an issuer the file
// does not define are errors with the line. Anchors, aliases and merge keys
// are refused.
func ParsePolicy(file string, data []byte) (*PolicySpec, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", file, ErrPolicy, MaxPolicySize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: the file is empty", file, ErrPolicy)
		}
		// The decoder's syntax errors read "yaml: line N: what".
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, policyError(file, line, "%s", m[2])
		}
		return nil, fmt.Errorf("%s: %w: %v", file, ErrPolicy, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, policyError(file, extra.Line, "one YAML document expected")
	}
	p := &pparser{file: file}
	spec := &PolicySpec{Path: file, Default: DefaultDeny, EncodedSlashes: EncodedSlashesReject}
	top := doc.Content[0]
	err := p.mapping(top, "the policy", map[string]func(k, v *yaml.Node) error{
		"default": func(k, v *yaml.Node) error {
			s, err := p.str(v, "default")
			if err != nil {
				return err
			}
			if s != DefaultDeny && s != DefaultAllowAuthenticated {
				return policyError(file, v.Line, "default %q: want %s or %s", s, DefaultDeny, DefaultAllowAuthenticated)
			}
			spec.Default, spec.DefaultLine = s, k.Line
			return nil
		},
		"issuers": func(_, v *yaml.Node) error { return p.issuers(v, spec) },
		"routes":  func(_, v *yaml.Node) error { return p.routes(v, spec) },
		"paths":   func(_, v *yaml.Node) error { return p.paths(v, spec) },
	})
	if err != nil {
		return nil, err
	}
	if len(spec.Issuers) == 0 {
		return nil, policyError(file, top.Line, "no issuers: define at least one under issuers:")
	}
	return spec, checkRoutes(spec)
}

// yamlLine reads the line out of a YAML syntax error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// pparser holds what the parsing functions share.
type pparser struct {
	file       string
	routeLines map[string]int // the line of each route's name so far
}

// mapping calls fields[key] for each key of the mapping n, refusing other
// keys, keys given twice, anchors, aliases and merge keys.
func (p *pparser) mapping(n *yaml.Node, what string, fields map[string]func(k, v *yaml.Node) error) error {
	if err := p.plain(n); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return policyError(p.file, n.Line, "%s must be a mapping", what)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := p.plain(k); err != nil {
			return err
		}
		if err := p.plain(v); err != nil {
			return err
		}
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return policyError(p.file, k.Line, "keys of %s must be names", what)
		}
		if prev, dup := seen[k.Value]; dup {
			return policyError(p.file, k.Line, "%q already given on line %d", k.Value, prev)
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if fields[""] != nil {
			f, ok = fields[""], true
		}
		if !ok {
			keys := make([]string, 0, len(fields))
			for name := range fields {
				keys = append(keys, name)
			}
			slices.Sort(keys)
			return policyError(p.file, k.Line, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(keys, ", "))
		}
		if err := f(k, v); err != nil {
			return err
		}
	}
	return nil
}

// plain refuses anchors, aliases and merge keys, so that what the file
// says is what it reads as.
func (p *pparser) plain(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" || n.Tag == "!!merge" {
		return policyError(p.file, n.Line, "anchors, aliases and merge keys are not allowed")
	}
	return nil
}

// str reads a non-empty string scalar.
func (p *pparser) str(v *yaml.Node, key string) (string, error) {
	if err := p.plain(v); err != nil {
		return "", err
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || v.Value == "" {
		return "", policyError(p.file, v.Line, "%s must be a non-empty value", key)
	}
	return v.Value, nil
}

// strs reads a list of non-empty string scalars, or a single one.
func (p *pparser) strs(v *yaml.Node, key string) ([]string, error) {
	if err := p.plain(v); err != nil {
		return nil, err
	}
	if v.Kind == yaml.ScalarNode {
		s, err := p.str(v, key)
		return []string{s}, err
	}
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		return nil, policyError(p.file, v.Line, "%s must be a value or a non-empty list of values", key)
	}
	out := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		s, err := p.str(item, "the items of "+key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// paths reads the "paths" mapping: how request paths are read.
func (p *pparser) paths(n *yaml.Node, spec *PolicySpec) error {
	return p.mapping(n, "paths", map[string]func(k, v *yaml.Node) error{
		"encoded-slashes": func(k, v *yaml.Node) error {
			s, err := p.str(v, k.Value)
			if err != nil {
				return err
			}
			if s != EncodedSlashesReject && s != EncodedSlashesDecode {
				return policyError(p.file, v.Line, "encoded-slashes %q: want %s or %s", s, EncodedSlashesReject, EncodedSlashesDecode)
			}
			spec.EncodedSlashes = s
			return nil
		},
	})
}

func (p *pparser) issuers(n *yaml.Node, spec *PolicySpec) error {
	return p.mapping(n, "issuers", map[string]func(k, v *yaml.Node) error{"": func(k, v *yaml.Node) error {
		if err := verifier.CheckIssuerName(k.Value); err != nil {
			return policyError(p.file, k.Line, "%v", strings.TrimPrefix(err.Error(), "verifier: "))
		}
		is := IssuerSpec{Name: k.Value, Line: k.Line}
		set := func(dst *string) func(_, v *yaml.Node) error {
			return func(k, v *yaml.Node) error {
				s, err := p.str(v, k.Value)
				*dst = s
				return err
			}
		}
		list := func(dst *[]string) func(_, v *yaml.Node) error {
			return func(k, v *yaml.Node) error {
				s, err := p.strs(v, k.Value)
				*dst = s
				return err
			}
		}
		err := p.mapping(v, "issuer "+k.Value, map[string]func(k, v *yaml.Node) error{
			"issuer":      set(&is.Issuer),
			"jwks-url":    set(&is.JWKSURL),
			"key-files":   list(&is.KeyFiles),
			"audiences":   list(&is.Audiences),
			"revocations": set(&is.Revocations),
			"token-type":  set(&is.TokenType),
			"algs": func(k, v *yaml.Node) error {
				s, err := p.strs(v, k.Value)
				is.Algorithms = strings.Join(s, ",")
				return err
			},
			"leeway": func(k, v *yaml.Node) error {
				s, err := p.str(v, k.Value)
				if err != nil {
					return err
				}
				d, err := time.ParseDuration(s)
				if err != nil || d < 0 {
					return policyError(p.file, v.Line, "leeway %q: want a duration such as 30s (0s for none)", s)
				}
				is.Leeway, is.LeewaySet = d, true
				return nil
			},
		})
		if err != nil {
			return err
		}
		switch {
		case is.Issuer == "":
			return policyError(p.file, k.Line, "issuer %s: issuer (its exact iss) is required", is.Name)
		case len(is.Audiences) == 0:
			return policyError(p.file, k.Line, "issuer %s: audiences is required", is.Name)
		case is.JWKSURL != "" && len(is.KeyFiles) > 0:
			return policyError(p.file, k.Line, "issuer %s: give jwks-url or key-files, not both", is.Name)
		case is.TokenType != "" && !strings.EqualFold(is.TokenType, verifier.TypeAccessToken):
			return policyError(p.file, k.Line, "issuer %s: token-type %q: want %s or leave it out", is.Name, is.TokenType, verifier.TypeAccessToken)
		}
		for _, o := range spec.Issuers {
			if o.Issuer == is.Issuer {
				return policyError(p.file, k.Line, "issuer %s: iss %q is already issuer %s's (line %d)", is.Name, is.Issuer, o.Name, o.Line)
			}
		}
		spec.Issuers = append(spec.Issuers, is)
		return nil
	}})
}

func (p *pparser) routes(n *yaml.Node, spec *PolicySpec) error {
	if err := p.plain(n); err != nil {
		return err
	}
	if n.Kind != yaml.SequenceNode {
		return policyError(p.file, n.Line, "routes must be a list")
	}
	for _, item := range n.Content {
		rt := RouteSpec{Line: item.Line}
		list := func(dst *[]string) func(_, v *yaml.Node) error {
			return func(k, v *yaml.Node) error {
				s, err := p.strs(v, k.Value)
				*dst = s
				return err
			}
		}
		err := p.mapping(item, "a route", map[string]func(k, v *yaml.Node) error{
			"name": func(k, v *yaml.Node) error {
				s, err := p.str(v, "name")
				rt.Name = s
				return err
			},
			"path": func(k, v *yaml.Node) error {
				s, err := p.str(v, "path")
				rt.Path = s
				return err
			},
			"methods": list(&rt.Methods),
			"public": func(k, v *yaml.Node) error {
				if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
					return policyError(p.file, v.Line, "public must be true or false")
				}
				rt.Public = v.Value == "true"
				return nil
			},
			"issuers":    list(&rt.Issuers),
			"all-scopes": list(&rt.AllScopes),
			"any-scope":  list(&rt.AnyScope),
			"all-roles":  list(&rt.AllRoles),
			"any-role":   list(&rt.AnyRole),
			"claims": func(_, v *yaml.Node) error {
				return p.mapping(v, "claims", map[string]func(k, v *yaml.Node) error{"": func(k, v *yaml.Node) error {
					c := ClaimSpec{Name: k.Value}
					err := p.mapping(v, "claim "+k.Value, map[string]func(k, v *yaml.Node) error{
						"all": list(&c.All),
						"any": list(&c.Any),
					})
					if err != nil {
						return err
					}
					if len(c.All) == 0 && len(c.Any) == 0 {
						return policyError(p.file, k.Line, "claim %s: give all or any", k.Value)
					}
					rt.Claims = append(rt.Claims, c)
					return nil
				}})
			},
		})
		if err != nil {
			return err
		}
		if err := p.checkRoute(&rt, spec); err != nil {
			return err
		}
		spec.Routes = append(spec.Routes, rt)
	}
	return nil
}

// methods are the methods a route may name, as bits of a mask.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func methodBit(m string) uint16 {
	for i, name := range methods {
		if m == name {
			return 1 << i
		}
	}
	return 0
}

// methodMask is the mask of a route's methods; all bits for none. GET
// brings HEAD.
func methodMask(ms []string) uint16 {
	if len(ms) == 0 {
		return 1<<len(methods) - 1
	}
	var mask uint16
	for _, m := range ms {
		mask |= methodBit(m)
		if m == "GET" {
			mask |= methodBit("HEAD")
		}
	}
	return mask
}

func (p *pparser) checkRoute(rt *RouteSpec, spec *PolicySpec) error {
	if err := verifier.CheckIssuerName(rt.Name); err != nil {
		return policyError(p.file, rt.Line, "route name %q: want 1 to 64 characters of a-z, 0-9, - and _", rt.Name)
	}
	if rt.Name == routeHealth || rt.Name == routeMetrics || rt.Name == routeUnmatched {
		return policyError(p.file, rt.Line, "route name %q is the gate's own", rt.Name)
	}
	if rt.Path == "" {
		return policyError(p.file, rt.Line, "route %s: path is required", rt.Name)
	}
	if _, _, err := splitRoutePath(rt.Path); err != nil {
		return policyError(p.file, rt.Line, "route %s: %v", rt.Name, err)
	}
	for _, m := range rt.Methods {
		if methodBit(m) == 0 {
			return policyError(p.file, rt.Line, "route %s: method %q: want one of %s (upper case)", rt.Name, m, strings.Join(methods[:], ", "))
		}
	}
	reqs := len(rt.Issuers) + len(rt.AllScopes) + len(rt.AnyScope) + len(rt.AllRoles) + len(rt.AnyRole) + len(rt.Claims)
	if rt.Public && reqs > 0 {
		return policyError(p.file, rt.Line, "route %s: a public route takes no issuers, scopes, roles or claims", rt.Name)
	}
	for _, name := range rt.Issuers {
		if !slices.ContainsFunc(spec.Issuers, func(is IssuerSpec) bool { return is.Name == name }) {
			return policyError(p.file, rt.Line, "route %s: issuer %q is not defined under issuers:", rt.Name, name)
		}
	}
	if line, ok := p.routeLines[rt.Name]; ok {
		return policyError(p.file, rt.Line, "route name %q already used on line %d", rt.Name, line)
	}
	if p.routeLines == nil {
		p.routeLines = map[string]int{}
	}
	p.routeLines[rt.Name] = rt.Line
	return nil
}

// splitRoutePath returns the exact path, or the prefix, of a route's path.
func splitRoutePath(p string) (exact, prefix string, err error) {
	if p[0] != '/' {
		return "", "", fmt.Errorf("path %q does not start with /", p)
	}
	if strings.ContainsAny(p, "%?#") {
		return "", "", fmt.Errorf("path %q: requests are matched on their decoded path without query: write it decoded, without %%, ? or #", p)
	}
	if pre, ok := strings.CutSuffix(p, "*"); ok {
		if !strings.HasSuffix(pre, "/") {
			return "", "", fmt.Errorf("path %q: a prefix ends with /*", p)
		}
		if !cleanPath(pre) || strings.Contains(pre, "*") {
			return "", "", fmt.Errorf("path %q is not clean (no ., .., // or * inside)", p)
		}
		return "", pre, nil
	}
	if !cleanPath(p) || strings.Contains(p, "*") {
		return "", "", fmt.Errorf("path %q is not clean (no ., .., // or * inside)", p)
	}
	return p, "", nil
}

// cleanPath reports whether p is an absolute path that path.Clean leaves
// alone, a trailing slash aside.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// checkRoutes refuses a route that an earlier one makes unreachable: the
// earlier one matches every path and method the later one does. The error
// is about the first such route of the file, and names the first route
// before it that shadows it.
//
// Only routes that can overlap are compared: an exact path is shadowed
// only by the same exact path or by a prefix of it, and a prefix only by
// a prefix of it; the prefixes of a path end at its slashes. So each route
// is looked up in an index of the earlier routes by exact path and by
// prefix, once per slash of its path, and compared with the few routes
// found there (differing in their methods, else one would shadow the
// other): the check takes about linear time in the number of routes.
func checkRoutes(spec *PolicySpec) error {
	type earlier struct {
		i    int
		mask uint16
	}
	exacts := make(map[string][]earlier, len(spec.Routes))
	prefixes := make(map[string][]earlier)
	for j, later := range spec.Routes {
		le, lp, _ := splitRoutePath(later.Path)
		lm := methodMask(later.Methods)
		first := -1 // the first earlier route that shadows this one
		shadows := func(es []earlier) {
			for _, e := range es {
				if e.mask&lm == lm && (first < 0 || e.i < first) {
					first = e.i
					return // es is in the order of the file
				}
			}
		}
		p := lp
		if le != "" {
			p = le
			shadows(exacts[le])
		}
		for k := 0; k < len(p); k++ {
			if p[k] == '/' {
				shadows(prefixes[p[:k+1]])
			}
		}
		if first >= 0 {
			e := spec.Routes[first]
			return policyError(spec.Path, later.Line, "route %s can never match: route %s (line %d) matches every request it would", later.Name, e.Name, e.Line)
		}
		if le != "" {
			exacts[le] = append(exacts[le], earlier{j, lm})
		} else {
			prefixes[lp] = append(prefixes[lp], earlier{j, lm})
		}
	}
	return nil
}
