package remote

import "testing"

// ReservesFunds is what the configuration says: the client cannot find it
// out from the facilitator.
func TestReservesFunds(t *testing.T) {
	for _, want := range []bool{false, true} {
		c, err := New(Config{URL: "https://f.example", ReservesFunds: want})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ReservesFunds(); got != want {
			t.Errorf("ReservesFunds() = %v, configured %v", got, want)
		}
	}
}
