package devnet

import (
	"crypto/ecdsa"
	"fmt"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// DevSeed is the public seed the devnet keys are derived from. See the
// package documentation for the exact derivation. Keys derived from it are
// PUBLIC and for local development only.
const DevSeed = "go402 devnet public dev-only seed"

// MaxAccounts is the largest accepted Config.Accounts.
const MaxAccounts = 1000

// Account is a devnet account and its private key (public, dev-only).
type Account struct {
	Address    common.Address
	PrivateKey *ecdsa.PrivateKey
}

// DevAccount returns funded account i (0 <= i < MaxAccounts) without starting
// a devnet: the private key is keccak256(DevSeed + "/account/" + decimal(i)).
func DevAccount(i int) (Account, error) {
	if i < 0 || i >= MaxAccounts {
		return Account{}, fmt.Errorf("devnet: account index %d out of range [0, %d)", i, MaxAccounts)
	}
	return deriveAccount("/account/" + strconv.Itoa(i))
}

// DeployerAccount returns the account that deploys and owns the test token:
// its private key is keccak256(DevSeed + "/deployer").
func DeployerAccount() (Account, error) {
	return deriveAccount("/deployer")
}

func deriveAccount(label string) (Account, error) {
	seed := crypto.Keccak256([]byte(DevSeed + label))
	key, err := crypto.ToECDSA(seed)
	if err != nil {
		// Probability ~2^-128 per index; the tests check every index in range.
		return Account{}, fmt.Errorf("devnet: derive key %q: %w", label, err)
	}
	return Account{Address: crypto.PubkeyToAddress(key.PublicKey), PrivateKey: key}, nil
}
