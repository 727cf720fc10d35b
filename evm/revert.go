package evm

// AsRevert returns the revert carried by err, an error returned by an
// eth_call or eth_estimateGas of a backend, or nil when err is not a revert
// (nil, a transport error, a context error). Schemes built on this package
// use it to tell a contract's refusal, which is a verdict, from a failed
// read, which is not.
func AsRevert(err error) *RevertError { return revertFromError(err) }
