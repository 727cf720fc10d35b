package x402

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
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
	// Real payment headers are 1-3 KiB; 16 KiB leaves room for extensions.
	// Note that 16 KiB is also Node.js's default limit for all the headers
	// of one HTTP message together (--max-http-header-size), so a header
	// this large would not reach a TypeScript peer: encoders emit at most
	// [MaxPaymentRequiredSize] for PAYMENT-REQUIRED, the header most likely
	// to grow (extensions, many accepts).
	MaxHeaderSize = 16 << 10
	// MaxPaymentRequiredSize is the largest PAYMENT-REQUIRED header
	// [EncodePaymentRequired] emits, in bytes: half of Node.js's 16 KiB
	// budget for all the headers of a response, so that a 402 with its
	// other headers still reaches TypeScript clients. Decoding accepts up
	// to [MaxHeaderSize] from other implementations.
	MaxPaymentRequiredSize = 8 << 10
	// MaxJSONSize is the largest JSON document (a v1 402 body or a
	// facilitator request) accepted, in bytes.
	MaxJSONSize = 256 << 10
	// MaxJSONDepth is the deepest nesting of objects and arrays accepted.
	MaxJSONDepth = 64
	// MaxObjectKeys is the most keys one JSON object may have. Protocol
	// objects have a handful; open-ended ones (extensions with JSON
	// schemas, outputSchema) can have more.
	MaxObjectKeys = 512
)

// EncodePaymentRequired encodes a v2 PaymentRequired for the PAYMENT-REQUIRED
// header. It validates p first, and refuses (an [*Error] wrapping
// [ErrHeaderTooLarge]) a header longer than [MaxPaymentRequiredSize], which
// TypeScript clients might not receive.
func EncodePaymentRequired(p *PaymentRequired) (string, error) {
	return encodeHeader(p, ReasonInvalidPaymentRequirements, MaxPaymentRequiredSize)
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
	return encodeHeader(p, ReasonInvalidPayload, MaxHeaderSize)
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
	return encodeHeader(p, ReasonInvalidPayload, MaxHeaderSize)
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
// The header does not name the scheme: it validates s as any scheme may
// send it (see [SettleResponse.ValidateFor]).
func EncodePaymentResponse(s *SettleResponse) (string, error) {
	return encodeHeader((*anySchemeSettleResponse)(s), ReasonInvalidResponse, MaxHeaderSize)
}

// DecodePaymentResponse decodes a PAYMENT-RESPONSE or X-PAYMENT-RESPONSE
// header. The header does not name the scheme, so it accepts what any
// scheme may send, such as the $0 success without a transaction of the
// "upto" scheme; check the response with [SettleResponse.ValidateFor] and
// the scheme paid with.
func DecodePaymentResponse(h string) (*SettleResponse, error) {
	var s SettleResponse
	if err := decodeHeader(h, (*anySchemeSettleResponse)(&s), ReasonInvalidResponse); err != nil {
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
	// One walk checks the keys and finds x402Version, and one Unmarshal
	// decodes the payload. (headerJSON bounds data well below MaxJSONSize.)
	raw, err := walkKeys(data, false)
	if err != nil {
		return VersionedPayload{}, newError(ReasonInvalidPayload, err, "undecodable message")
	}
	var v int
	switch string(raw) {
	case "1":
		v = V1
	case "2":
		v = V2
	default:
		// x402Version is missing or unsupported, or the message is not
		// a JSON object: DetectVersion reports which.
		if v, err = DetectVersion(data); err != nil {
			return VersionedPayload{}, err
		}
	}
	if v == V1 {
		var p PaymentPayloadV1
		if err := unmarshalChecked(data, &p, ReasonInvalidPayload); err != nil {
			return VersionedPayload{}, err
		}
		return VersionedPayload{V1: &p}, nil
	}
	var p PaymentPayload
	if err := unmarshalChecked(data, &p, ReasonInvalidPayload); err != nil {
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

// encodeHeader validates v and encodes it, refusing a header longer than
// limit.
func encodeHeader(v validator, reason Reason, limit int) (string, error) {
	if err := v.Validate(); err != nil {
		return "", newError(reasonFor(err, reason), err, "refusing to encode an invalid message")
	}
	b, err := marshalJSON(v)
	if err != nil {
		return "", newError(reason, err, "encoding failed")
	}
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) > limit {
		return "", newError(reason, ErrHeaderTooLarge, "encoded header is %d bytes, more than %d", len(s), limit)
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
// duplicate keys (also, in objects that map to Go structs, keys differing
// only in case, which encoding/json would merge), nesting deeper than
// MaxJSONDepth and trailing data are rejected so that every x402
// implementation reading the same bytes sees the same message.
func decodeJSON(data []byte, v validator, reason Reason) error {
	if len(data) > MaxJSONSize {
		return newError(reason, ErrHeaderTooLarge, "message is %d bytes, more than %d", len(data), MaxJSONSize)
	}
	if err := checkJSON(data); err != nil {
		return newError(reason, err, "undecodable message")
	}
	return unmarshalChecked(data, v, reason)
}

// unmarshalChecked is decodeJSON for data that checkJSON accepted.
func unmarshalChecked(data []byte, v validator, reason Reason) error {
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

// checkJSON rejects input that parsers disagree on, in a protocol message:
// invalid UTF-8, too deep nesting, objects with too many keys, and
// duplicate keys. The objects that map to Go structs (the message and its
// nested protocol objects) must not have two keys that are equal ignoring
// case, because encoding/json matches struct fields case-insensitively and
// would merge them where JavaScript keeps both. The open-ended objects
// (the values of extra, payload, extensions and outputSchema, at any depth)
// are kept as raw JSON or read into maps, where keys are matched exactly:
// there only exact duplicates are rejected, so that {"X-Api-Key": …,
// "x-api-key": …} in an extension's schema is accepted. A scheme that reads
// an open-ended object into a struct does so with [Object.Decode], which
// applies the case-insensitive check to that object.
//
// checkJSON does not check syntax (json.Unmarshal does) and returns nil on
// malformed input it cannot follow.
func checkJSON(b []byte) error { return checkKeys(b, false) }

// isOpenField reports whether a key of a protocol object names one of its
// open-ended fields. The comparison folds case as encoding/json does.
func isOpenField(k []byte) bool {
	return bytes.EqualFold(k, []byte("extra")) || bytes.EqualFold(k, []byte("payload")) ||
		bytes.EqualFold(k, []byte("extensions")) || bytes.EqualFold(k, []byte("outputSchema"))
}

// keyFrame is an open JSON container during checkKeys.
type keyFrame struct {
	start int  // index in the key stack where this object's keys start; -1 for an array
	open  bool // inside an open-ended object: keys are compared exactly
	// set holds the normalised keys of a large object, so that checking
	// stays linear; nil while the object has few keys.
	set map[string]struct{}
}

// linearKeys is how many keys an object may have before checkKeys switches
// from pairwise comparison to a set.
const linearKeys = 16

// checkKeys implements checkJSON. With strict, keys are compared
// case-insensitively in every object (the rule for an object decoded into a
// struct by [Object.Decode]).
func checkKeys(b []byte, strict bool) error {
	_, err := walkKeys(b, strict)
	return err
}

// walkKeys implements checkKeys. It also returns the raw JSON value of the
// top-level object's x402Version, the key encoding/json would decode into
// an x402Version field (matched ignoring case), without the white space
// around it, or nil if there is none. On malformed input, which
// json.Unmarshal rejects whatever it decodes into, the value means nothing.
func walkKeys(b []byte, strict bool) (version []byte, err error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrMalformedJSON)
	}
	// keys is the stack of the keys of the open objects, unescaped.
	var keyBuf [64][]byte
	keys := keyBuf[:0]
	var frameBuf [MaxJSONDepth]keyFrame
	frames := frameBuf[:0]
	// expectKey: the next string is a key. nextOpen: the value being read
	// is that of an open-ended field.
	expectKey, nextOpen := false, false
	// versionAt is the index just after the top-level x402Version key
	// while its value is being read; -1 otherwise.
	versionAt := -1
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if len(frames) == MaxJSONDepth {
				return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformedJSON, MaxJSONDepth)
			}
			f := keyFrame{start: -1, open: nextOpen || (len(frames) > 0 && frames[len(frames)-1].open)}
			if b[i] == '{' {
				f.start = len(keys)
			}
			frames = append(frames, f)
			expectKey, nextOpen = b[i] == '{', false
		case '}', ']':
			if len(frames) == 0 {
				return nil, nil // malformed; json.Unmarshal reports it
			}
			if len(frames) == 1 && versionAt >= 0 {
				version, versionAt = memberValue(b[versionAt:i]), -1
			}
			if start := frames[len(frames)-1].start; start >= 0 {
				keys = keys[:start]
			}
			frames = frames[:len(frames)-1]
			expectKey, nextOpen = false, false
		case ',':
			if len(frames) == 1 && versionAt >= 0 {
				version, versionAt = memberValue(b[versionAt:i]), -1
			}
			expectKey = len(frames) > 0 && frames[len(frames)-1].start >= 0
			nextOpen = false
		case '"':
			end, escaped := scanString(b, i)
			if end < 0 {
				return nil, nil
			}
			if expectKey && len(frames) > 0 && frames[len(frames)-1].start >= 0 {
				f := &frames[len(frames)-1]
				k := b[i+1 : end]
				if escaped {
					var s string
					if err := json.Unmarshal(b[i:end+1], &s); err != nil {
						return nil, nil
					}
					k = []byte(s)
				}
				if keys, err = f.add(keys, k, strict || !f.open); err != nil {
					return nil, err
				}
				if len(frames) == 1 && bytes.EqualFold(k, []byte("x402Version")) {
					versionAt = end + 1
				}
				nextOpen = !strict && !f.open && isOpenField(k)
			} else {
				nextOpen = false
			}
			expectKey = false
			i = end
		}
	}
	return version, nil
}

// memberValue returns the value of an object member from the text after
// its key (white space, a colon, the value, white space); nil if there is
// no colon.
func memberValue(b []byte) []byte {
	const space = " \t\r\n"
	b = bytes.TrimLeft(b, space)
	if len(b) == 0 || b[0] != ':' {
		return nil
	}
	return bytes.Trim(b[1:], space)
}

// add checks key k against the keys of the object f and returns keys with
// k pushed on it. With fold, keys equal ignoring case (as bytes.EqualFold,
// which is how encoding/json matches struct fields) are duplicates. It
// takes and returns the stack by value, not through a pointer, so that
// walkKeys's stack buffer does not escape to the heap.
func (f *keyFrame) add(keys [][]byte, k []byte, fold bool) ([][]byte, error) {
	mine := keys[f.start:]
	if len(mine) >= MaxObjectKeys {
		return keys, fmt.Errorf("%w: an object has more than %d keys", ErrMalformedJSON, MaxObjectKeys)
	}
	if f.set == nil && len(mine) < linearKeys {
		for _, prev := range mine {
			switch {
			case bytes.Equal(prev, k):
				return keys, fmt.Errorf("%w: duplicate key %s", ErrMalformedJSON, quoteShort(string(k)))
			case fold && bytes.EqualFold(prev, k):
				return keys, fmt.Errorf("%w: keys %s and %s differ only in case; encoding/json would merge them", ErrMalformedJSON, quoteShort(string(prev)), quoteShort(string(k)))
			}
		}
	} else {
		if f.set == nil {
			f.set = make(map[string]struct{}, 2*linearKeys)
			for _, prev := range mine {
				f.set[normKey(prev, fold)] = struct{}{}
			}
		}
		n := normKey(k, fold)
		if _, dup := f.set[n]; dup {
			if fold {
				return keys, fmt.Errorf("%w: duplicate key %s (keys are compared ignoring case)", ErrMalformedJSON, quoteShort(string(k)))
			}
			return keys, fmt.Errorf("%w: duplicate key %s", ErrMalformedJSON, quoteShort(string(k)))
		}
		f.set[n] = struct{}{}
	}
	return append(keys, k), nil
}

// normKey returns k, or with fold a string that is equal for exactly the
// keys bytes.EqualFold finds equal: each rune is replaced by the smallest
// rune of its simple case-folding orbit.
func normKey(k []byte, fold bool) string {
	if !fold {
		return string(k)
	}
	out := make([]byte, 0, len(k))
	for len(k) > 0 {
		r, size := utf8.DecodeRune(k)
		k = k[size:]
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r))
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out = utf8.AppendRune(out, least)
	}
	return string(out)
}

// scanString returns the index of the closing quote of the string starting
// at b[i], and whether it contains escapes; -1 if it is unterminated.
//
// It is not inlined: inlined into walkKeys, its loop competes for
// registers with the walk's state, and BenchmarkCheckJSON runs a third
// slower.
//
//go:noinline
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
