package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go402/go402/x402"
)

// maxInProgressWaits bounds how many times a paid request answered "in
// progress" (its payment identifier's first request still running at the
// server) is asked again; maxInProgressWait bounds one wait.
const (
	maxInProgressWaits = 10
	maxInProgressWait  = 5 * time.Second
)

// inProgress reports whether resp is a 409 payment_identifier_in_progress
// with a Retry-After; it closes the body of such an answer, and leaves
// any other answer readable as it came.
func inProgress(resp *http.Response) bool {
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" {
		return false
	}
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(buf, &v) == nil && v.Error == string(x402.ReasonPaymentIDInProgress) {
		drainClose(resp.Body)
		return true
	}
	resp.Body = restoredBody{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
	return false
}

// retryAfter is resp's Retry-After in seconds, within (0, maxInProgressWait].
func retryAfter(resp *http.Response) time.Duration {
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	switch d := time.Duration(n) * time.Second; {
	case err != nil || d <= 0:
		return time.Second
	case d > maxInProgressWait:
		return maxInProgressWait
	default:
		return d
	}
}

// sleepCtx waits d, or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
