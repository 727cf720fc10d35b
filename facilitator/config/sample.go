package config

import _ "embed"

//go:embed sample.yaml
var sampleYAML string

// SampleYAML returns sample.yaml, the configuration file that documents
// every key with its default, as built into the binary (what
// `go402 facilitator --print-sample-config` prints). [Parse] accepts it.
func SampleYAML() []byte { return []byte(sampleYAML) }
