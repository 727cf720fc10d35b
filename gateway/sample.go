package gateway

import _ "embed"

//go:embed sample-gateway.yaml
var sampleYAML string

// SampleYAML returns sample-gateway.yaml, the configuration file that
// documents every key, as built into the binary (what
// `go402 gateway --print-sample-config` prints). [Parse] accepts it.
func SampleYAML() []byte { return []byte(sampleYAML) }
