package gateway_test

import (
	"os"
	"testing"

	"github.com/go402/go402/gateway"
)

// FuzzParse checks that no file panics Parse or Validate.
func FuzzParse(f *testing.F) {
	sample, err := os.ReadFile("sample-gateway.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte("routes:\n  - {path: 'GET /a/{id}/*', upstream: http://u, price: $1, networks: [eip155:1]}\n"))
	f.Add([]byte("networks: [{network: eip155:5, assets: [{address: '0x209693bc6afc0c5328ba36faf03c514ef312287c', decimals: 6}]}]\n"))
	f.Add([]byte("facilitators: [https://a.example, {url: 'https://b.example', apiKeyEnv: T, reservesFunds: true}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := gateway.Parse("f.yaml", data, nil)
		if err != nil {
			return
		}
		_ = c.Validate()
	})
}
