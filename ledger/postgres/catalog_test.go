package postgres

import (
	"testing"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/ledgertest"
)

func TestCatalog(t *testing.T) {
	ledgertest.RunCatalog(t, func(t *testing.T) ledger.Store { return openSchema(t, newSchema(t)) })
}
