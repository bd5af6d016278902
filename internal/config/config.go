// Package config reads keyward's YAML configuration files: a mapping whose
// keys are the names of a command's flags ("access-ttl: 15m") and whose
// values are scalars, or lists of scalars for repeatable flags
// ("audience: [a, b]"). It keeps the line of every key, so that errors —
// an unknown key, a value of the wrong shape — point at the file and line.
//
// It only reads; applying the values to flags, with the precedence
// command line > environment > file > defaults, is internal/cli's job.
//
// It imports the standard library and the YAML decoder only, never another
// keyward package.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error about a file's content.
var ErrInvalid = errors.New("invalid configuration file")

// MaxFileSize is the largest configuration file read.
const MaxFileSize = 1 << 20

// Entry is one key of a configuration file.
type Entry struct {
	// Key is the flag name.
	Key string
	// Values holds the scalar value, or the items of a list.
	Values []string
	// List reports that the value was a YAML sequence.
	List bool
	// Line is the key's line, counted from 1.
	Line int
}

// File is a parsed configuration file.
type File struct {
	// Path is the file's name, as given.
	Path string
	// Entries are the keys in the order of the file.
	Entries []Entry
}

// Errorf returns an error wrapping [ErrInvalid] that points at the entry's
// line: "keyward.yaml:3: ...".
func (f *File) Errorf(e Entry, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %w", f.Path, e.Line, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
}

// Load reads and parses the file at path.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrInvalid, MaxFileSize)
	}
	return Parse(path, data)
}

// Parse parses data, named path in errors. An empty document is an empty
// File. The top level must be a mapping of unique string keys to scalars
// or sequences of scalars; anchors, aliases and merge keys are refused.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		return nil, fmt.Errorf("%s: %w: %v", path, ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:%d: %w: one YAML document expected", path, extra.Line, ErrInvalid)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return f, nil
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return f, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %w: want a mapping of flag names to values", path, top.Line, ErrInvalid)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return nil, fmt.Errorf("%s:%d: %w: keys must be flag names", path, k.Line, ErrInvalid)
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: %w: %q already set on line %d", path, k.Line, ErrInvalid, k.Value, prev)
		}
		seen[k.Value] = k.Line
		e := Entry{Key: k.Value, Line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				return nil, fmt.Errorf("%s:%d: %w: %q has no value", path, k.Line, ErrInvalid, k.Value)
			}
			e.Values = []string{v.Value}
		case yaml.SequenceNode:
			e.List = true
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
					return nil, fmt.Errorf("%s:%d: %w: the items of %q must be plain values", path, item.Line, ErrInvalid, k.Value)
				}
				e.Values = append(e.Values, item.Value)
			}
		default:
			return nil, fmt.Errorf("%s:%d: %w: %q must be a value or a list of values", path, v.Line, ErrInvalid, k.Value)
		}
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

// Marshal writes entries as a YAML mapping in the given order, each value
// quoted as YAML needs; list entries become sequences.
func Marshal(entries []Entry) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, e := range entries {
		k := &yaml.Node{Kind: yaml.ScalarNode, Value: e.Key}
		var v *yaml.Node
		if e.List {
			v = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, s := range e.Values {
				v.Content = append(v.Content, scalar(s))
			}
		} else {
			s := ""
			if len(e.Values) > 0 {
				s = e.Values[0]
			}
			v = scalar(s)
		}
		m.Content = append(m.Content, k, v)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// scalar is a string node; the encoder quotes it when it would read back
// as another type.
func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
