package x402http

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/go402/go402/x402"
)

// staticAnswer is the request-independent part of a route's 402 answer,
// encoded once: the requirements, and the JSON of the PAYMENT-REQUIRED
// header and of the v1 body around the few values that change with each
// request (the error text, the resource URL and the method). The output is
// byte for byte what encoding the whole messages with x402's codecs gives.
type staticAnswer struct {
	reqs []x402.PaymentRequirements
	// extensions are the extensions the 402 declares (Route.Extensions).
	extensions x402.Object
	// v2Tail follows the resource URL in the PaymentRequired JSON: the
	// description and MIME type, then the accepts.
	v2Tail []byte
	// v1 are the options with a v1 network name, in order.
	v1 []v1Parts
}

// v1Parts is one v1 requirement's JSON, split around the resource URL and
// the method of its outputSchema.
type v1Parts struct {
	head, mid, tail []byte
}

// newAnswer encodes the static parts of the 402 answer for reqs, offered
// for a resource with the given description and MIME type, declaring
// extensions (nil: none).
func newAnswer(reqs []x402.PaymentRequirements, description, mimeType string, extensions x402.Object) (*staticAnswer, error) {
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%w: accepts is empty", x402.ErrInvalidMessage)
	}
	for i := range reqs {
		if err := reqs[i].Validate(); err != nil {
			return nil, fmt.Errorf("accepts[%d]: %w", i, err)
		}
	}
	accepts, err := jsonValue(reqs)
	if err != nil {
		return nil, err
	}
	a := &staticAnswer{reqs: reqs, extensions: extensions}
	var tail []byte
	if description != "" {
		tail = append(tail, `,"description":`...)
		tail = appendJSONString(tail, description)
	}
	if mimeType != "" {
		tail = append(tail, `,"mimeType":`...)
		tail = appendJSONString(tail, mimeType)
	}
	tail = append(tail, `},"accepts":`...)
	tail = append(tail, accepts...)
	if !extensions.IsNull() {
		ext, err := jsonValue(extensions)
		if err != nil {
			return nil, err
		}
		tail = append(tail, `,"extensions":`...)
		tail = append(tail, ext...)
	}
	a.v2Tail = append(tail, '}')
	// The smallest header this answer can give, with no error text and a
	// one-character resource URL, must fit: otherwise no request would
	// ever get one.
	if _, err := a.header("", "/"); err != nil {
		return nil, fmt.Errorf("the PAYMENT-REQUIRED header would be too large for any request (shorten the description, or offer fewer accepts or a smaller extra): %w", err)
	}
	for i := range reqs {
		v1, err := x402.RequirementsV1(&reqs[i], nil)
		if err != nil {
			continue // no v1 name: v2 clients only
		}
		var p v1Parts
		p.head = append(p.head, `{"scheme":`...)
		p.head = appendJSONString(p.head, v1.Scheme)
		p.head = append(p.head, `,"network":`...)
		p.head = appendJSONString(p.head, string(v1.Network))
		p.head = append(p.head, `,"maxAmountRequired":`...)
		p.head = appendJSONString(p.head, v1.MaxAmountRequired.String())
		p.head = append(p.head, `,"resource":`...)
		p.mid = append(p.mid, `,"description":`...)
		p.mid = appendJSONString(p.mid, description)
		p.mid = append(p.mid, `,"mimeType":`...)
		p.mid = appendJSONString(p.mid, mimeType)
		p.mid = append(p.mid, `,"outputSchema":{"input":{"type":"http","method":`...)
		p.tail = append(p.tail, `,"discoverable":true}},"payTo":`...)
		p.tail = appendJSONString(p.tail, v1.PayTo)
		p.tail = fmt.Appendf(p.tail, `,"maxTimeoutSeconds":%d,"asset":`, v1.MaxTimeoutSeconds)
		p.tail = appendJSONString(p.tail, v1.Asset)
		if len(v1.Extra) > 0 {
			extra, err := jsonValue(v1.Extra)
			if err != nil {
				return nil, err
			}
			p.tail = append(p.tail, `,"extra":`...)
			p.tail = append(p.tail, extra...)
		}
		p.tail = append(p.tail, '}')
		a.v1 = append(a.v1, p)
	}
	return a, nil
}

// header returns the PAYMENT-REQUIRED header for a 402 with the error text
// msg about the resource at url. Like x402.EncodePaymentRequired, it
// refuses (an *x402.Error wrapping x402.ErrHeaderTooLarge) a header longer
// than x402.MaxPaymentRequiredSize, which TypeScript clients might not
// receive: Node.js allows 16 KiB for all the headers of a response.
func (a *staticAnswer) header(msg, url string) (string, error) {
	buf := make([]byte, 0, 48+len(msg)+len(url)+len(a.v2Tail))
	buf = append(buf, `{"x402Version":2`...)
	if msg != "" {
		buf = append(buf, `,"error":`...)
		buf = appendJSONString(buf, msg)
	}
	buf = append(buf, `,"resource":{"url":`...)
	buf = appendJSONString(buf, url)
	buf = append(buf, a.v2Tail...)
	if n := base64.StdEncoding.EncodedLen(len(buf)); n > x402.MaxPaymentRequiredSize {
		return "", &x402.Error{
			Reason:  x402.ReasonInvalidPaymentRequirements,
			Message: fmt.Sprintf("encoded header is %d bytes, more than %d", n, x402.MaxPaymentRequiredSize),
			Err:     x402.ErrHeaderTooLarge,
		}
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// body returns the v1 JSON body of a 402 (with a final newline, as
// json.Encoder writes it): the error text msg and the v1 requirements for
// the resource at url, requested with method.
func (a *staticAnswer) body(msg, url, method string) []byte {
	method = v1Method(method)
	n := 48 + len(msg)
	for _, p := range a.v1 {
		n += len(p.head) + len(p.mid) + len(p.tail) + len(url) + len(method) + 8
	}
	buf := make([]byte, 0, n)
	buf = append(buf, `{"x402Version":1,"error":`...)
	buf = appendJSONString(buf, msg)
	buf = append(buf, `,"accepts":[`...)
	for i, p := range a.v1 {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, p.head...)
		buf = appendJSONString(buf, url)
		buf = append(buf, p.mid...)
		buf = appendJSONString(buf, method)
		buf = append(buf, p.tail...)
	}
	return append(buf, "]}\n"...)
}

// jsonValue encodes v as encoding/json does, without escaping <, > and &
// (as x402's codecs do), compact and without a final newline.
func jsonValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// encodes it with HTML escaping off: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
