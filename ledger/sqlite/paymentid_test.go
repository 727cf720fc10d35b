package sqlite

import (
	"testing"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/ledgertest"
)

func TestPaymentIDs(t *testing.T) {
	ledgertest.RunPaymentIDs(t, func(t *testing.T) ledger.Store { return openPath(t, tempPath(t)) })
}
