package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/maps"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable floe reads as configuration.
//
// The rest of the name is the key path, lower-cased: "__" separates levels
// and a single "_" stands for "-" within a key:
//
//	FLOE_KAFKA__GROUP=g                 kafka.group
//	FLOE_KAFKA__BATCH__MAX_AGE=5s       kafka.batch.max-age
//	FLOE_CATALOG__REST__TOKEN=…         catalog.rest.token
//	FLOE_KAFKA__BROKERS=a:9092,b:9092   kafka.brokers (lists are comma-separated)
//
// Every FLOE_ variable must name a key; one that does not is an error, so
// other tools must not use the prefix. The tables list cannot be set from
// the environment (a list item has no name to address it by).
const EnvPrefix = "FLOE_"

// Load reads the configuration: defaults, then the YAML file at path (none
// when path is empty), then the FLOE_ variables of environ (in os.Environ form;
// nil reads none), then overrides. Override keys are dotted paths
// ("kafka.group", "log.level") or nested maps; values may be strings or
// typed (time.Duration, []string, int). The result is validated.
//
// Unknown keys and values that do not fit their field are errors naming the
// key; all of them are reported, joined, not only the first.
func Load(path string, environ []string, overrides map[string]any) (*Config, error) {
	k := koanf.New(".")
	var src sources

	if path != "" {
		b, err := file.Provider(path).ReadBytes()
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		m, err := yaml.Parser().Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("config: parse %s: %w", path, err)
		}
		if err := k.Load(confMap(m), nil); err != nil {
			return nil, fmt.Errorf("config: load %s: %w", path, err)
		}
	}

	src.env = make(map[string]string)
	lists := listKeys(reflect.TypeFor[Config](), "", nil)
	envProvider := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key := EnvKey(name)
			src.env[key] = name
			if lists[key] {
				return key, splitList(value)
			}
			return key, value
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return nil, fmt.Errorf("config: load environment: %w", err)
	}

	if len(overrides) > 0 {
		m := maps.Unflatten(maps.Copy(overrides), ".")
		flat, _ := maps.Flatten(m, nil, ".")
		src.overrides = make(map[string]bool, len(flat))
		for key := range flat {
			src.overrides[key] = true
		}
		if err := k.Load(confMap(m), nil); err != nil {
			return nil, fmt.Errorf("config: load overrides: %w", err)
		}
	}

	cfg, err := decode(k, &src)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// EnvKey maps an environment variable name to the key path it sets:
// FLOE_KAFKA__BATCH__MAX_AGE → kafka.batch.max-age.
func EnvKey(name string) string {
	parts := strings.Split(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "_", "-")
	}
	return strings.Join(parts, ".")
}

// decode unmarshals the merged layers onto the defaults.
func decode(k *koanf.Koanf, src *sources) (*Config, error) {
	cfg := Default()

	// koanf has no defaults for list items, and mapstructure decodes a list
	// item onto the element already in place: pre-fill one default table per
	// item so that keys a table leaves out keep their defaults.
	if raw := k.Get("tables"); raw != nil {
		rv := reflect.ValueOf(raw)
		if rv.Kind() != reflect.Slice {
			return nil, fmt.Errorf("config: tables: must be a list of tables, got %s%s", kindOf(rv.Type()), src.origin("tables"))
		}
		cfg.Tables = make([]Table, rv.Len())
		for i := range cfg.Tables {
			cfg.Tables[i] = DefaultTable()
		}
	}

	dc := &mapstructure.DecoderConfig{
		DecodeHook:  mapstructure.ComposeDecodeHookFunc(durationHook, integerHook),
		ErrorUnused: true,
		// Weak typing turns environment strings into bools and numbers,
		// YAML numbers and bools into the strings of property maps, and a
		// single value into a one-item list.
		WeaklyTypedInput: true,
		// Keys are matched exactly: "Kafka" is a typo, not kafka.
		MatchName: func(mapKey, fieldName string) bool { return mapKey == fieldName },
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return nil, decodeErrors(err, src)
	}
	return &cfg, nil
}

// sources remembers which keys the environment and the overrides set, so
// that an error can say where a bad key or value came from.
type sources struct {
	env       map[string]string // key path → variable name
	overrides map[string]bool   // key paths
}

// origin returns " (from …)" naming the layer that set key, or "" when the
// file did. A key matches a set path that equals it, lies under it (an item
// of a list value) or lies above it (an unknown parent of the set key).
func (s *sources) origin(key string) string {
	match := func(set string) bool {
		return set == key ||
			strings.HasPrefix(key, set+".") || strings.HasPrefix(key, set+"[") ||
			strings.HasPrefix(set, key+".")
	}
	for set := range s.overrides {
		if match(set) {
			return " (from overrides)"
		}
	}
	var names []string
	for set, name := range s.env {
		if match(set) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return " (from environment variable " + strings.Join(names, ", ") + ")"
}

// rootName is how mapstructure names the top level in its errors.
var rootName = reflect.TypeFor[Config]().String()

const unusedPrefix = "has invalid keys: "

// decodeErrors rewrites mapstructure's errors as one "config: key: problem"
// error per problem, each naming the full key path and, when it is not the
// file, the layer the key came from.
func decodeErrors(err error, src *sources) error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		var de *mapstructure.DecodeError
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
			return
		case *mapstructure.DecodeError:
			de = e
		default:
			// mapstructure wraps its joined errors in a preamble.
			if inner := errors.Unwrap(err); inner != nil {
				walk(inner)
			} else {
				out = append(out, fmt.Errorf("config: %w", err))
			}
			return
		}
		name := de.Name()
		if name == rootName {
			name = ""
		}
		inner := de.Unwrap()
		if keys, ok := strings.CutPrefix(inner.Error(), unusedPrefix); ok {
			for _, key := range strings.Split(keys, ", ") {
				if name != "" {
					key = name + "." + key
				}
				out = append(out, fmt.Errorf("config: unknown key %q%s", key, src.origin(key)))
			}
			return
		}
		out = append(out, fmt.Errorf("config: %s: %s%s", name, describe(inner), src.origin(name)))
	}
	walk(err)
	return errors.Join(out...)
}

// describe words mapstructure's type errors for an operator rather than a
// Go programmer.
func describe(err error) string {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot read %q as %s", fmt.Sprint(pe.Value), kindOf(pe.Expected.Type()))
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Sprintf("must be %s, got %s", kindOf(ue.Expected.Type()), kindOf(reflect.TypeOf(ue.Value)))
	}
	return err.Error()
}

func kindOf(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "a map"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t == durationType {
			return "a duration"
		}
		return "an integer"
	}
	return t.String()
}

// listKeys finds the key paths of string-list fields reachable through
// structs (not through lists of structs): the keys whose environment value
// is split on commas.
func listKeys(t reflect.Type, prefix string, out map[string]bool) map[string]bool {
	if out == nil {
		out = make(map[string]bool)
	}
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		key := prefix
		if !strings.Contains(opts, "squash") {
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key = joinKey(prefix, name)
		}
		switch {
		case f.Type.Kind() == reflect.Struct:
			listKeys(f.Type, key, out)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			out[key] = true
		}
	}
	return out
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// splitList splits a comma-separated environment value, dropping blanks.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// confMap is a koanf.Provider for a map already in hand.
type confMap map[string]any

func (m confMap) Read() (map[string]any, error) { return m, nil }

func (m confMap) ReadBytes() ([]byte, error) {
	return nil, errors.New("confMap provides a map, not bytes")
}
