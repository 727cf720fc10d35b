package yamlconf

import "go.yaml.in/yaml/v3"

// IsMapping reports whether the value is a mapping (key: value lines or
// {a: b}), for keys whose items may be either a single value or a mapping.
func (v Value) IsMapping() bool { return v.n.Kind == yaml.MappingNode }
