package config

import (
	"os"
	"testing"
)

// FuzzParse checks that no file panics Parse or Validate.
func FuzzParse(f *testing.F) {
	sample, err := os.ReadFile("sample.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte("networks:\n  - network: base-sepolia\n    rpcUrls: [http://a]\n    batch: {enabled: true, window: 5ms}\n"))
	f.Add([]byte("devnet: {enabled: true, chainId: 84532, batch: {maxSize: 0}}\nsigner: {privateKey: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data, envMap(map[string]string{"PGPASSWORD": "p"}))
		if err != nil {
			return
		}
		_ = c.Validate()
	})
}
