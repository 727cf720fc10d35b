package devnet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go402/go402/devnet"
)

// A test of a time lock, such as the batch-settlement withdraw delay, moves
// the chain's clock forward instead of waiting.
func ExampleDevnet_AdvanceTime() {
	ctx := context.Background()
	d, err := devnet.Start(ctx, devnet.Config{Accounts: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	before, err := d.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.AdvanceTime(15 * time.Minute); err != nil {
		fmt.Println(err)
		return
	}
	after, err := d.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("advanced by", after.Time-before.Time, "seconds")
	// Output: advanced by 900 seconds
}
