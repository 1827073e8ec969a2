package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// deployed is the template as CloudFormation would deploy it for one set
// of parameter values: conditions evaluated, resources and outputs whose
// condition is false left out, every Fn::If replaced by its chosen branch
// and AWS::NoValue removed (a property, or an element of a list).
type deployed struct {
	Parameters map[string]map[string]any
	Resources  map[string]resource
	Outputs    map[string]map[string]any
}

// noValue marks what AWS::NoValue removes while resolving.
type noValueT struct{}

var removed = noValueT{}

// resolve deploys the synthesized template with params (others keep their
// defaults).
func resolve(t *testing.T, params map[string]string) deployed {
	t.Helper()
	synth(t)
	var raw struct {
		Parameters map[string]map[string]any
		Conditions map[string]any
		Resources  map[string]map[string]any
		Outputs    map[string]map[string]any
	}
	if err := json.Unmarshal(synthJSON, &raw); err != nil {
		t.Fatal(err)
	}
	value := func(name string) (string, error) {
		if v, ok := params[name]; ok {
			return v, nil
		}
		p, ok := raw.Parameters[name]
		if !ok {
			return "", fmt.Errorf("no parameter %s", name)
		}
		if p["Default"] == nil {
			return "", fmt.Errorf("parameter %s has no default: give it", name)
		}
		return fmt.Sprint(p["Default"]), nil
	}
	for name, v := range params {
		p, ok := raw.Parameters[name]
		if !ok {
			t.Fatalf("no parameter %s", name)
		}
		if allowed := list(p["AllowedValues"]); allowed != nil && !containsAny(allowed, v) {
			t.Fatalf("%s=%s is not one of its allowed values %v", name, v, allowed)
		}
	}

	conds := map[string]bool{}
	var cond func(name string, seen map[string]bool) (bool, error)
	var eval func(e any, seen map[string]bool) (any, error)
	eval = func(e any, seen map[string]bool) (any, error) {
		m := obj(e)
		if m == nil {
			return e, nil
		}
		for k, arg := range m {
			args := list(arg)
			switch k {
			case "Ref":
				return value(fmt.Sprint(arg))
			case "Condition":
				return cond(fmt.Sprint(arg), seen)
			case "Fn::Equals":
				a, err := eval(args[0], seen)
				if err != nil {
					return nil, err
				}
				b, err := eval(args[1], seen)
				return fmt.Sprint(a) == fmt.Sprint(b), err
			case "Fn::Not", "Fn::And", "Fn::Or":
				var vals []bool
				for _, a := range args {
					v, err := eval(a, seen)
					if err != nil {
						return nil, err
					}
					bv, ok := v.(bool)
					if !ok {
						return nil, fmt.Errorf("%s of a non-condition %v", k, a)
					}
					vals = append(vals, bv)
				}
				switch k {
				case "Fn::Not":
					return !vals[0], nil
				case "Fn::And":
					return !containsAny(toAny(vals), false), nil
				default:
					return containsAny(toAny(vals), true), nil
				}
			}
		}
		return nil, fmt.Errorf("cannot evaluate %s in a condition", js(e))
	}
	cond = func(name string, seen map[string]bool) (bool, error) {
		if v, ok := conds[name]; ok {
			return v, nil
		}
		expr, ok := raw.Conditions[name]
		if !ok {
			return false, fmt.Errorf("no condition %s", name)
		}
		if seen[name] {
			return false, fmt.Errorf("condition %s refers to itself", name)
		}
		seen[name] = true
		v, err := eval(expr, seen)
		if err != nil {
			return false, fmt.Errorf("condition %s: %w", name, err)
		}
		conds[name] = v.(bool)
		return conds[name], nil
	}
	for name := range raw.Conditions {
		if _, err := cond(name, map[string]bool{}); err != nil {
			t.Fatal(err)
		}
	}

	var walk func(v any) (any, error)
	walk = func(v any) (any, error) {
		switch x := v.(type) {
		case map[string]any:
			if args, ok := x["Fn::If"]; ok && len(x) == 1 {
				a := list(args)
				if len(a) != 3 {
					return nil, fmt.Errorf("Fn::If with %d arguments", len(a))
				}
				c, ok := conds[fmt.Sprint(a[0])]
				if _, known := raw.Conditions[fmt.Sprint(a[0])]; !known {
					return nil, fmt.Errorf("Fn::If on an unknown condition %v", a[0])
				}
				if c && ok {
					return walk(a[1])
				}
				return walk(a[2])
			}
			if ref, ok := x["Ref"]; ok && len(x) == 1 && ref == "AWS::NoValue" {
				return removed, nil
			}
			out := map[string]any{}
			for k, e := range x {
				r, err := walk(e)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				if r != removed {
					out[k] = r
				}
			}
			return out, nil
		case []any:
			out := []any{}
			for i, e := range x {
				r, err := walk(e)
				if err != nil {
					return nil, fmt.Errorf("[%d]: %w", i, err)
				}
				if r != removed {
					out = append(out, r)
				}
			}
			return out, nil
		}
		return v, nil
	}
	d := deployed{Parameters: raw.Parameters, Resources: map[string]resource{}, Outputs: map[string]map[string]any{}}
	for id, r := range raw.Resources {
		if c, ok := r["Condition"]; ok && !conds[fmt.Sprint(c)] {
			continue
		}
		w, err := walk(r)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		var res resource
		b, _ := json.Marshal(w)
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		d.Resources[id] = res
	}
	for id, o := range raw.Outputs {
		if c, ok := o["Condition"]; ok && !conds[fmt.Sprint(c)] {
			continue
		}
		w, err := walk(map[string]any(o))
		if err != nil {
			t.Fatalf("output %s: %v", id, err)
		}
		d.Outputs[id] = obj(w)
	}
	return d
}

func containsAny(l []any, v any) bool {
	for _, x := range l {
		if fmt.Sprint(x) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

func toAny(bs []bool) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

// dangling lists the references of a deployed template to resources that
// are not in it: what CloudFormation refuses ("Unresolved resource
// dependencies") when a condition leaves out a resource that something
// still names.
func (d deployed) dangling() []string {
	exists := func(name string) bool {
		_, r := d.Resources[name]
		_, p := d.Parameters[name]
		return r || p || strings.HasPrefix(name, "AWS::")
	}
	subVar := regexp.MustCompile(`\$\{([^!}][^}]*)\}`)
	var bad []string
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, arg := range x {
				switch k {
				case "Ref":
					if !exists(fmt.Sprint(arg)) {
						bad = append(bad, fmt.Sprintf("%s: Ref %v", where, arg))
					}
				case "Fn::GetAtt":
					target := ""
					if a := list(arg); len(a) > 0 {
						target = fmt.Sprint(a[0])
					} else {
						target, _, _ = strings.Cut(fmt.Sprint(arg), ".")
					}
					if _, ok := d.Resources[target]; !ok {
						bad = append(bad, fmt.Sprintf("%s: Fn::GetAtt %s", where, target))
					}
				case "Fn::Sub":
					str, vars := fmt.Sprint(arg), map[string]any{}
					if a := list(arg); len(a) == 2 {
						str, vars = fmt.Sprint(a[0]), obj(a[1])
					}
					for _, m := range subVar.FindAllStringSubmatch(str, -1) {
						name, _, _ := strings.Cut(m[1], ".")
						if _, local := vars[name]; !local && !exists(name) {
							bad = append(bad, fmt.Sprintf("%s: Fn::Sub ${%s}", where, m[1]))
						}
					}
				case "Fn::If":
					bad = append(bad, fmt.Sprintf("%s: Fn::If left after resolving", where))
				}
				walk(where, arg)
			}
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		}
	}
	ids := make([]string, 0, len(d.Resources))
	for id := range d.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := d.Resources[id]
		for _, dep := range r.DependsOn {
			if _, ok := d.Resources[dep]; !ok {
				bad = append(bad, fmt.Sprintf("%s: DependsOn %s", id, dep))
			}
		}
		walk(id, r.Properties)
		walk(id, r.Metadata)
	}
	for id, o := range d.Outputs {
		walk("output "+id, o)
	}
	return bad
}

func (d deployed) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range d.Resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// Every Storage value (and the other conditional parameters) deploys a
// template whose references all resolve: no resource, output or Fn::If
// names a resource its condition left out.
func TestEveryParameterValueDeploysConsistently(t *testing.T) {
	tm := synth(t)
	storages := list(tm.Parameters["Storage"]["AllowedValues"])
	if !containsAny(storages, "s3") || len(storages) != 3 {
		t.Fatalf("Storage allows %v, want efs-onezone, efs-standard and s3", storages)
	}
	for _, st := range storages {
		for _, nats := range []string{"1", "3"} {
			for _, cert := range []string{"", "arn:aws:acm:eu-west-1:123456789012:certificate/abc"} {
				for _, registry := range []string{"0.0.0.0/0", ""} {
					params := map[string]string{"ImageUri": "example/flotilla:v1", "Storage": fmt.Sprint(st), "NatGateways": nats, "OriginCertificateArn": cert, "RegistryCidr": registry}
					if cert != "" {
						params["OriginDomainName"] = "origin.example.com"
					}
					d := resolve(t, params)
					for _, b := range d.dangling() {
						t.Errorf("Storage=%v NatGateways=%s cert=%t RegistryCidr=%q: %s", st, nats, cert != "", registry, b)
					}
					if n := len(d.ofType("AWS::ECS::Service")); n != 3 {
						t.Errorf("Storage=%v: %d services", st, n)
					}
				}
			}
		}
	}
}

// The resolver itself sees a dangling reference.
func TestDanglingFindsMissingResources(t *testing.T) {
	d := deployed{Resources: map[string]resource{
		"A": {Properties: map[string]any{"X": map[string]any{"Ref": "Gone"}, "Y": map[string]any{"Fn::Sub": "${Gone2.Arn}-${AWS::Region}"}}},
		"B": {DependsOn: []string{"Gone3"}, Properties: map[string]any{"Z": map[string]any{"Fn::GetAtt": []any{"A", "Arn"}}}},
	}}
	got := d.dangling()
	if len(got) != 3 {
		t.Errorf("dangling() = %v, want the three missing names", got)
	}
}
