package x402_test

import (
	"strconv"
	"testing"

	"github.com/go402/go402/x402"
)

// @x402/evm 2.27's batch-settlement channel manager sends its claim and
// settle payloads with maxTimeoutSeconds 0, and the upto spec's settle
// request has none; any other scheme needs a positive value.
func TestMaxTimeoutSecondsZero(t *testing.T) {
	for _, c := range []struct {
		scheme  string
		timeout int
		ok      bool
	}{
		{"batch-settlement", 0, true},
		{"batch-settlement", -1, false},
		{"upto", 0, true},
		{"upto", -1, false},
		{"exact", 0, false},
		{"exact", 1, true},
	} {
		body := `{"x402Version":2,"paymentPayload":{"x402Version":2,"accepted":{"scheme":"` + c.scheme + `","network":"eip155:1","amount":"0","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":` +
			strconv.Itoa(c.timeout) + `,"extra":{}},"payload":{"type":"settle"}},"paymentRequirements":{"scheme":"` + c.scheme +
			`","network":"eip155:1","amount":"0","asset":"0xA","payTo":"0xB","maxTimeoutSeconds":` + strconv.Itoa(c.timeout) + `,"extra":{}}}`
		_, err := x402.DecodeFacilitatorRequest([]byte(body))
		if (err == nil) != c.ok {
			t.Errorf("%s with maxTimeoutSeconds %d: %v", c.scheme, c.timeout, err)
		}
	}
}
