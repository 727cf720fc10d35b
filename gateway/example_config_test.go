package gateway_test

import (
	"path/filepath"
	"testing"

	"github.com/go402/go402/gateway"
)

// The example in examples/gateway must stay a valid configuration.
func TestExampleGatewayConfig(t *testing.T) {
	cfg, err := gateway.Load(filepath.Join("..", "examples", "gateway", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 {
		t.Errorf("%d routes", len(cfg.Routes))
	}
}
