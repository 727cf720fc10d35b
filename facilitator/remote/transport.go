package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// response is a complete HTTP answer.
type response struct {
	status   int
	header   http.Header
	body     []byte // at most MaxResponseSize bytes
	tooLarge bool   // the body was longer than MaxResponseSize
}

func (r *response) is2xx() bool { return r.status >= 200 && r.status < 300 }

// do calls ep, retrying as the package documentation says. It returns the
// last response, whatever its status, or an error when no response was
// received.
func (c *Client) do(ctx context.Context, ep *endpoint, body []byte) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("facilitator/remote: %s: %w", ep.name, err)
	}
	for attempt := 1; ; attempt++ {
		res, sent, err := c.attempt(ctx, ep, body, attempt)
		if err != nil && !sent {
			// Nothing was sent (a Headers error) or the context ended.
			return nil, err
		}
		if ctx.Err() != nil && err != nil {
			return nil, c.transportError(ep, err)
		}
		wait, retry := c.retryable(ep, res, err, attempt)
		if !retry || attempt > c.retries {
			if err != nil {
				return nil, c.transportError(ep, err)
			}
			return res, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			// The next attempt could not start in time.
			if err != nil {
				return nil, c.transportError(ep, err)
			}
			return res, nil
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: retrying",
			slog.String("endpoint", ep.name), slog.Int("attempt", attempt), slog.Duration("wait", wait))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("facilitator/remote: %s: %w", ep.name, ctx.Err())
		case <-c.after(wait):
		}
	}
}

// transportError wraps an error of a request that got no response. For a
// non-idempotent endpoint it marks the outcome unknown unless the
// connection was never established.
func (c *Client) transportError(ep *endpoint, err error) error {
	if !ep.idempotent && !isDialError(err) {
		return fmt.Errorf("facilitator/remote: %s: %w: %w", ep.name, ErrSettleOutcomeUnknown, err)
	}
	return fmt.Errorf("facilitator/remote: %s: %w", ep.name, err)
}

// attempt makes one request and reads the whole answer. sent is false when
// the request was not handed to the HTTP client.
func (c *Client) attempt(ctx context.Context, ep *endpoint, body []byte, n int) (res *response, sent bool, err error) {
	actx := ctx
	if ep.timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, ep.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // sets GetBody, so redirects replay it
	}
	req, err := http.NewRequestWithContext(actx, ep.method, ep.url, rd)
	if err != nil {
		return nil, false, fmt.Errorf("facilitator/remote: %s: %w", ep.name, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.headers != nil {
		h, err := c.headers(actx, ep.name)
		if err != nil {
			return nil, false, fmt.Errorf("facilitator/remote: %s: headers: %w", ep.name, err)
		}
		for k, v := range h {
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: request failed",
			slog.String("endpoint", ep.name), slog.Int("attempt", n),
			slog.Duration("duration", time.Since(start)), slog.Bool("dial_error", isDialError(err)))
		return nil, true, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: reading response failed",
			slog.String("endpoint", ep.name), slog.Int("attempt", n), slog.Int("status", resp.StatusCode),
			slog.Duration("duration", time.Since(start)))
		return nil, true, fmt.Errorf("reading HTTP %d response: %w", resp.StatusCode, err)
	}
	res = &response{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > MaxResponseSize {
		res.body, res.tooLarge = b[:MaxResponseSize], true
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "facilitator: response",
		slog.String("endpoint", ep.name), slog.Int("attempt", n), slog.Int("status", resp.StatusCode),
		slog.Duration("duration", time.Since(start)))
	return res, true, nil
}

// retryable decides whether a failed attempt is retried and after how long.
// err is a transport error (then res is nil).
func (c *Client) retryable(ep *endpoint, res *response, err error, attempt int) (time.Duration, bool) {
	backoff := c.backoff(attempt)
	if err != nil {
		if ep.idempotent || isDialError(err) {
			return backoff, true
		}
		return 0, false
	}
	if !ep.idempotent {
		return 0, false // a response means the request reached the facilitator
	}
	switch res.status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return 0, false
	}
	if ra, ok := retryAfter(res.header.Get("Retry-After"), time.Now()); ok {
		if ra > maxRetryAfter {
			return 0, false
		}
		return max(ra, backoff), true
	}
	return backoff, true
}

// backoff returns the jittered delay before retry number attempt (1-based):
// between half and all of RetryDelay*2^(attempt-1), capped at maxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryDelay
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date,
// which it counts from now.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter + time.Second, true // too long: only its size matters
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// isDialError reports whether err means that no connection was established,
// so that the request cannot have reached the server.
func isDialError(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
