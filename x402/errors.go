package x402

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by decoding errors; test with errors.Is.
var (
	// ErrHeaderTooLarge: an encoded header exceeds [MaxHeaderSize] or a JSON
	// document exceeds [MaxJSONSize].
	ErrHeaderTooLarge = errors.New("x402: header too large")
	// ErrMalformedBase64: a header is not valid base64.
	ErrMalformedBase64 = errors.New("x402: malformed base64")
	// ErrMalformedJSON: a document is not valid UTF-8 JSON of the expected shape.
	ErrMalformedJSON = errors.New("x402: malformed JSON")
	// ErrUnsupportedVersion: the x402Version is neither 1 nor 2, or is not
	// the version the header carries.
	ErrUnsupportedVersion = errors.New("x402: unsupported x402Version")
	// ErrInvalidMessage: a document decoded but violates the protocol (a
	// required field is missing or has an invalid value).
	ErrInvalidMessage = errors.New("x402: invalid message")
)

// Error is a protocol error: a reason code for machines and a message for
// people. It wraps the underlying cause, usually one of the sentinel errors
// above or an amount or network parsing error; Error() includes the cause.
//
//	var xe *x402.Error
//	if errors.As(err, &xe) { log(xe.Reason) }
type Error struct {
	Reason  Reason
	Message string
	Err     error
}

// Error implements error: "x402: <reason>: <message>: <cause>".
func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil {
		switch cause := e.Err.Error(); {
		case msg == "" || cause == msg:
			msg = cause
		default:
			msg += ": " + cause
		}
	}
	return "x402: " + string(e.Reason) + ": " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// newError builds an *Error with a formatted message and the cause, if any.
func newError(reason Reason, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Err: cause}
}

// ReasonOf returns the reason code of err if it is or wraps an *Error, and
// "" otherwise.
func ReasonOf(err error) Reason {
	var xe *Error
	if errors.As(err, &xe) {
		return xe.Reason
	}
	return ""
}
