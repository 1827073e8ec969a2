// Package config layers a peer's settings: command-line flags first, then
// FLOTILLA_* environment variables, then an optional JSON settings file, then
// the built-in defaults.
//
// The flag set is the schema. Every setting is a flag bound to a field of the
// owning package's Config struct; the environment variable and the file key
// are derived from the flag name (--gateway-listen ↔ FLOTILLA_GATEWAY_LISTEN ↔
// "gateway-listen"). There is no second description of the settings to keep
// in sync, and no setting exists that cannot be given all three ways.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// EnvPrefix starts every environment variable flotilla reads.
const EnvPrefix = "FLOTILLA_"

// EnvName returns the environment variable of a flag: FLOTILLA_ and the flag
// name in upper case with dashes as underscores.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// File is a parsed settings file: flag names to values.
type File map[string]any

// LoadFile reads a JSON settings file. A missing file is an empty one when
// optional is set.
func LoadFile(path string, optional bool) (File, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && optional {
		return File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return f, nil
}

// Overlay gives every flag the command line left unset its value from the
// environment (lookup, usually os.LookupEnv) or, failing that, from the
// file. Unknown file keys and unparsable values are errors that name their
// source, so a typo never silently falls back to a default.
func Overlay(fs *pflag.FlagSet, lookup func(string) (string, bool), file File) error {
	known := map[string]bool{}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if _, cliOnly := f.Annotations[cliOnlyAnnotation]; f.Changed || cliOnly {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			if err := setAll(fs, f, splitList(f, v)); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			vals, err := fileValues(v)
			if err == nil {
				err = setAll(fs, f, vals)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config file key %q: %w", f.Name, err))
			}
		}
	})
	for k := range file {
		if !known[k] {
			errs = append(errs, fmt.Errorf("config file key %q: no such setting", k))
		}
	}
	return errors.Join(errs...)
}

// isList reports whether a flag takes several values.
func isList(f *pflag.Flag) bool {
	return strings.HasSuffix(f.Value.Type(), "Slice") || strings.HasSuffix(f.Value.Type(), "Array")
}

func splitList(f *pflag.Flag, v string) []string {
	if !isList(f) {
		return []string{v}
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func fileValues(v any) ([]string, error) {
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			out = append(out, fmt.Sprint(e))
		}
		return out, nil
	case string:
		return []string{t}, nil
	case bool, float64:
		return []string{fmt.Sprint(t)}, nil
	default:
		return nil, fmt.Errorf("unsupported value %v", v)
	}
}

// setAll sets a flag as if given on the command line, once per value. A
// list flag given an empty list is cleared.
func setAll(fs *pflag.FlagSet, f *pflag.Flag, vals []string) error {
	if isList(f) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(vals); err != nil {
				return err
			}
			f.Changed = true
			return nil
		}
	}
	for _, v := range vals {
		if err := fs.Set(f.Name, v); err != nil {
			return err
		}
	}
	return nil
}

// Secret marks a flag whose value Show redacts.
const secretAnnotation = "flotilla/secret"

// MarkSecret hides a flag's value from Show.
func MarkSecret(fs *pflag.FlagSet, name string) {
	fs.SetAnnotation(name, secretAnnotation, []string{"true"})
}

// cliOnlyAnnotation marks a flag that only the command line sets.
const cliOnlyAnnotation = "flotilla/cli-only"

// MarkCommandLineOnly keeps a flag out of the environment and the settings
// file: the options of one operation (a pin's name, its replication) must
// not be picked up from FLOTILLA_* variables meant for the daemon, such as
// FLOTILLA_REPLICATION_MIN.
func MarkCommandLineOnly(fs *pflag.FlagSet, names ...string) {
	for _, n := range names {
		fs.SetAnnotation(n, cliOnlyAnnotation, []string{"true"})
	}
}

// envOnlyAnnotation marks a secret that the command line must not carry.
const envOnlyAnnotation = "flotilla/env-only"

// MarkEnvironmentOnly refuses a flag on the command line, where every user
// of the machine can read it in the process list: the value comes from the
// environment (a platform's secret store) or the settings file. It marks
// the flag secret too.
func MarkEnvironmentOnly(fs *pflag.FlagSet, name string) {
	MarkSecret(fs, name)
	fs.SetAnnotation(name, envOnlyAnnotation, []string{"true"})
	fs.Lookup(name).Hidden = true
}

// CheckCommandLine fails when the command line set an environment-only
// flag. Call it after parsing and before Overlay.
func CheckCommandLine(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if _, envOnly := f.Annotations[envOnlyAnnotation]; envOnly && f.Changed {
			errs = append(errs, fmt.Errorf("--%s is a secret: give it as %s, not on the command line", f.Name, EnvName(f.Name)))
		}
	})
	return errors.Join(errs...)
}

// Show returns the effective value of every flag, keyed by flag name, in the
// settings file's format. Secrets are replaced by "<redacted>" when set.
func Show(fs *pflag.FlagSet) map[string]any {
	out := map[string]any{}
	fs.VisitAll(func(f *pflag.Flag) {
		if _, secret := f.Annotations[secretAnnotation]; secret {
			if f.Value.String() != "" {
				out[f.Name] = "<redacted>"
			} else {
				out[f.Name] = ""
			}
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			out[f.Name] = sv.GetSlice()
			return
		}
		out[f.Name] = f.Value.String()
	})
	return out
}

// Names returns the flag names in order, for documentation.
func Names(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	return names
}
