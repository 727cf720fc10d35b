package cli

import (
	"encoding/json"
	"testing"
)

// testPayResent: the server declares payment-identifier; the first answer
// to the paid request is lost after it settled. go402 pay resends the same
// payment and id once and gets the first answer back.
func testPayResent(t *testing.T, s *payShop, info string) {
	before := s.balance(t)
	r := payCLI(t, "", "pay", "--json", "--devnet-info", info, s.url+"/retried")
	var got payResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !got.Paid || got.Body == nil || *got.Body != "order 1" || got.Transaction == "" {
		t.Errorf("exit %d, json %+v", r.code, got)
	}
	if n, runs := s.retriedSends.Load(), s.retried.Load(); n != 2 || runs != 1 {
		t.Errorf("%d paid sends, handler ran %d times; want 2 and 1", n, runs)
	}
	s.assertMoved(t, before, 1000) // paid once
}
