package x402

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// HTTP header names of the x402 HTTP transport.
const (
	HeaderPaymentRequired  = "PAYMENT-REQUIRED"   // v2, server → client, with 402
	HeaderPaymentSignature = "PAYMENT-SIGNATURE"  // v2, client → server
	HeaderPaymentResponse  = "PAYMENT-RESPONSE"   // v2, server → client
	HeaderXPayment         = "X-PAYMENT"          // v1, client → server
	HeaderXPaymentResponse = "X-PAYMENT-RESPONSE" // v1, server → client
)

// Size and shape bounds applied to everything decoded from the network.
const (
	// MaxHeaderSize is the largest encoded x402 header accepted, in bytes.
	// Real payment headers are 1-3 KiB; 16 KiB leaves room for extensions
	// while staying under common proxy header limits.
	MaxHeaderSize = 16 << 10
	// MaxJSONSize is the largest JSON document (a v1 402 body or a
	// facilitator request) accepted, in bytes.
	MaxJSONSize = 256 << 10
	// MaxJSONDepth is the deepest nesting of objects and arrays accepted.
	MaxJSONDepth = 64
	// maxObjectKeys is the most keys one JSON object may have. Protocol
	// objects have a handful; the bound keeps duplicate detection cheap.
	maxObjectKeys = 128
)

// EncodePaymentRequired encodes a v2 PaymentRequired for the PAYMENT-REQUIRED
// header. It validates p first.
func EncodePaymentRequired(p *PaymentRequired) (string, error) {
	return encodeHeader(p, ReasonInvalidPaymentRequirements)
}

// DecodePaymentRequired decodes and validates a PAYMENT-REQUIRED header.
func DecodePaymentRequired(h string) (*PaymentRequired, error) {
	var p PaymentRequired
	if err := decodeHeader(h, &p, ReasonInvalidPaymentRequirements); err != nil {
		return nil, err
	}
	return &p, nil
}

// EncodePaymentSignature encodes a v2 PaymentPayload for the
// PAYMENT-SIGNATURE header. It validates p first.
func EncodePaymentSignature(p *PaymentPayload) (string, error) {
	return encodeHeader(p, ReasonInvalidPayload)
}

// DecodePaymentSignature decodes and validates a PAYMENT-SIGNATURE header,
// which must carry a v2 payload.
func DecodePaymentSignature(h string) (*PaymentPayload, error) {
	var p PaymentPayload
	if err := decodeHeader(h, &p, ReasonInvalidPayload); err != nil {
		return nil, err
	}
	return &p, nil
}

// EncodeXPayment encodes a v1 PaymentPayload for the X-PAYMENT header. It
// validates p first.
func EncodeXPayment(p *PaymentPayloadV1) (string, error) {
	return encodeHeader(p, ReasonInvalidPayload)
}

// DecodeXPayment decodes and validates an X-PAYMENT header carrying a v1
// payload. Use [DecodePayment] to accept either version.
func DecodeXPayment(h string) (*PaymentPayloadV1, error) {
	var p PaymentPayloadV1
	if err := decodeHeader(h, &p, ReasonInvalidPayload); err != nil {
		return nil, err
	}
	return &p, nil
}

// EncodePaymentResponse encodes a SettleResponse for the PAYMENT-RESPONSE
// (v2) or X-PAYMENT-RESPONSE (v1) header; the two carry the same shape.
func EncodePaymentResponse(s *SettleResponse) (string, error) {
	return encodeHeader(s, ReasonInvalidResponse)
}

// DecodePaymentResponse decodes a PAYMENT-RESPONSE or X-PAYMENT-RESPONSE
// header.
func DecodePaymentResponse(h string) (*SettleResponse, error) {
	var s SettleResponse
	if err := decodeHeader(h, &s, ReasonInvalidResponse); err != nil {
		return nil, err
	}
	return &s, nil
}

// VersionedPayload is a payment payload of either protocol version; exactly
// one of V1 and V2 is set.
type VersionedPayload struct {
	V1 *PaymentPayloadV1
	V2 *PaymentPayload
}

// Version returns 1 or 2, or 0 if neither payload is set.
func (p VersionedPayload) Version() int {
	switch {
	case p.V2 != nil:
		return V2
	case p.V1 != nil:
		return V1
	}
	return 0
}

// DecodePayment decodes a payment header of either version, as found in
// PAYMENT-SIGNATURE or X-PAYMENT, detecting the version from x402Version.
func DecodePayment(h string) (VersionedPayload, error) {
	data, err := headerJSON(h, ReasonInvalidPayload)
	if err != nil {
		return VersionedPayload{}, err
	}
	v, err := DetectVersion(data)
	if err != nil {
		return VersionedPayload{}, err
	}
	if v == V1 {
		var p PaymentPayloadV1
		if err := decodeJSON(data, &p, ReasonInvalidPayload); err != nil {
			return VersionedPayload{}, err
		}
		return VersionedPayload{V1: &p}, nil
	}
	var p PaymentPayload
	if err := decodeJSON(data, &p, ReasonInvalidPayload); err != nil {
		return VersionedPayload{}, err
	}
	return VersionedPayload{V2: &p}, nil
}

// DecodePaymentRequiredV1 decodes and validates the JSON body of a v1 402
// response.
func DecodePaymentRequiredV1(body []byte) (*PaymentRequiredV1, error) {
	if len(body) > MaxJSONSize {
		return nil, newError(ReasonInvalidPaymentRequirements, ErrHeaderTooLarge, "402 body is %d bytes, more than %d", len(body), MaxJSONSize)
	}
	var p PaymentRequiredV1
	if err := decodeJSON(body, &p, ReasonInvalidPaymentRequirements); err != nil {
		return nil, err
	}
	return &p, nil
}

// DetectVersion returns the x402Version (1 or 2) of a JSON message.
func DetectVersion(data []byte) (int, error) {
	var probe struct {
		X402Version *json.RawMessage `json:"x402Version"`
	}
	if err := checkJSON(data); err != nil {
		return 0, newError(ReasonInvalidPayload, err, "undecodable message")
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return 0, newError(ReasonInvalidPayload, fmt.Errorf("%w: %v", ErrMalformedJSON, err), "undecodable message")
	}
	if probe.X402Version == nil {
		return 0, newError(ReasonInvalidX402Version, ErrUnsupportedVersion, "x402Version is missing")
	}
	switch string(*probe.X402Version) {
	case "1":
		return V1, nil
	case "2":
		return V2, nil
	}
	return 0, newError(ReasonInvalidX402Version, ErrUnsupportedVersion, "x402Version %s is not supported", quoteShort(string(*probe.X402Version)))
}

// marshalJSON encodes v without escaping <, > and & (headers are not HTML),
// matching JSON.stringify in the reference TypeScript implementation.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// validator is implemented by every message type.
type validator interface{ Validate() error }

func encodeHeader(v validator, reason Reason) (string, error) {
	if err := v.Validate(); err != nil {
		return "", newError(reasonFor(err, reason), err, "refusing to encode an invalid message")
	}
	b, err := marshalJSON(v)
	if err != nil {
		return "", newError(reason, err, "encoding failed")
	}
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) > MaxHeaderSize {
		return "", newError(reason, ErrHeaderTooLarge, "encoded header is %d bytes, more than %d", len(s), MaxHeaderSize)
	}
	return s, nil
}

func decodeHeader(h string, v validator, reason Reason) error {
	data, err := headerJSON(h, reason)
	if err != nil {
		return err
	}
	return decodeJSON(data, v, reason)
}

// headerJSON checks the size of a header and decodes its base64.
func headerJSON(h string, reason Reason) ([]byte, error) {
	if len(h) > MaxHeaderSize {
		return nil, newError(reason, ErrHeaderTooLarge, "header is %d bytes, more than %d", len(h), MaxHeaderSize)
	}
	if h == "" {
		return nil, newError(reason, ErrMalformedBase64, "header is empty")
	}
	data, err := decodeBase64(h)
	if err != nil {
		return nil, newError(reason, err, "header is not base64")
	}
	return data, nil
}

// decodeBase64 accepts standard and URL-safe alphabets, with or without
// padding, but not a mix of alphabets, white space, or bad padding.
func decodeBase64(s string) ([]byte, error) {
	body := strings.TrimRight(s, "=")
	pad := len(s) - len(body)
	if pad > 2 || (pad > 0 && len(s)%4 != 0) {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformedBase64)
	}
	std := strings.ContainsAny(body, "+/")
	url := strings.ContainsAny(body, "-_")
	if std && url {
		return nil, fmt.Errorf("%w: mixes the standard and URL-safe alphabets", ErrMalformedBase64)
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	out, err := enc.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedBase64, err)
	}
	return out, nil
}

// decodeJSON decodes a protocol message and validates it. Invalid UTF-8,
// duplicate keys (also ones differing only in case, which encoding/json would
// merge), nesting deeper than MaxJSONDepth and trailing data are rejected so
// that every x402 implementation reading the same bytes sees the same message.
func decodeJSON(data []byte, v validator, reason Reason) error {
	if len(data) > MaxJSONSize {
		return newError(reason, ErrHeaderTooLarge, "message is %d bytes, more than %d", len(data), MaxJSONSize)
	}
	if err := checkJSON(data); err != nil {
		return newError(reason, err, "undecodable message")
	}
	if err := json.Unmarshal(data, v); err != nil {
		if errors.Is(err, ErrInvalidAmount) || errors.Is(err, ErrMalformedJSON) {
			// An UnmarshalJSON method (Amount, Object) rejected a value.
			return newError(reason, err, "invalid field value")
		}
		return newError(reason, fmt.Errorf("%w: %v", ErrMalformedJSON, err), "undecodable message")
	}
	if err := v.Validate(); err != nil {
		return newError(reasonFor(err, reason), err, "invalid message")
	}
	return nil
}

// reasonFor maps a validation error to its reason code.
func reasonFor(err error, fallback Reason) Reason {
	if errors.Is(err, ErrUnsupportedVersion) {
		return ReasonInvalidX402Version
	}
	return fallback
}

// checkJSON rejects input that parsers disagree on: invalid UTF-8, duplicate
// or case-insensitively equal keys in one object, too deep nesting, and
// objects with too many keys. It does not check syntax (json.Unmarshal does)
// and returns nil on malformed input it cannot follow.
func checkJSON(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: not valid UTF-8", ErrMalformedJSON)
	}
	// A key is compared case-insensitively with the keys before it in its
	// object. Keys with escapes are unescaped once, into str.
	type span struct {
		start, end int
		str        string // the unescaped key, when it had escapes
		escaped    bool
	}
	var keyBuf [64]span
	keys := keyBuf[:0]
	// frames holds, per open container, the index in keys where its own keys
	// start, or -1 for an array.
	var frameBuf [MaxJSONDepth]int
	frames := frameBuf[:0]
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if len(frames) == MaxJSONDepth {
				return fmt.Errorf("%w: nested deeper than %d", ErrMalformedJSON, MaxJSONDepth)
			}
			if b[i] == '{' {
				frames = append(frames, len(keys))
				expectKey = true
			} else {
				frames = append(frames, -1)
				expectKey = false
			}
		case '}', ']':
			if len(frames) == 0 {
				return nil // malformed; json.Unmarshal reports it
			}
			if start := frames[len(frames)-1]; start >= 0 {
				keys = keys[:start]
			}
			frames = frames[:len(frames)-1]
			expectKey = false
		case ',':
			expectKey = len(frames) > 0 && frames[len(frames)-1] >= 0
		case '"':
			end, escaped := scanString(b, i)
			if end < 0 {
				return nil
			}
			if expectKey && len(frames) > 0 && frames[len(frames)-1] >= 0 {
				start := frames[len(frames)-1]
				if len(keys)-start >= maxObjectKeys {
					return fmt.Errorf("%w: an object has more than %d keys", ErrMalformedJSON, maxObjectKeys)
				}
				k := span{start: i + 1, end: end, escaped: escaped}
				if escaped {
					if err := json.Unmarshal(b[i:end+1], &k.str); err != nil {
						return nil
					}
				}
				for _, prev := range keys[start:] {
					var same bool
					switch {
					case !k.escaped && !prev.escaped:
						same = bytes.EqualFold(b[prev.start:prev.end], b[k.start:k.end])
					case k.escaped && prev.escaped:
						same = strings.EqualFold(prev.str, k.str)
					case k.escaped:
						same = strings.EqualFold(string(b[prev.start:prev.end]), k.str)
					default:
						same = strings.EqualFold(prev.str, string(b[k.start:k.end]))
					}
					if same {
						return fmt.Errorf("%w: duplicate key %s", ErrMalformedJSON, quoteShort(string(b[k.start:k.end])))
					}
				}
				keys = append(keys, k)
			}
			expectKey = false
			i = end
		}
	}
	return nil
}

// scanString returns the index of the closing quote of the string starting
// at b[i], and whether it contains escapes; -1 if it is unterminated.
func scanString(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return -1, escaped
}
