package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// SchemeUpto is the metered scheme: a payment authorizes the route's price
// as a maximum and is settled for what the upstream reports it used.
const SchemeUpto = "upto"

// DefaultUsageHeader is the response header in which an upstream of an
// upto route reports its usage, unless metering.header names another.
const DefaultUsageHeader = "X-Usage"

// Metering says how the usage of an upto route's answer is read from its
// upstream.
type Metering struct {
	// Header is the response header (or trailer) in which the upstream
	// reports what the answer used: a decimal integer, in atomic units of
	// the asset paid, or a count of units with UnitPrice. The gateway
	// removes it from the answer the client gets. Several reports (the
	// header, a trailer, repeated values) add up. Key
	// "routes[i].metering.header"; default X-Usage.
	Header string
	// UnitPrice, if set, is the price of one unit ("$0.00002"): the
	// header then counts units, charged at this price. Key
	// "routes[i].metering.unitPrice".
	UnitPrice string
}

// upto reports whether route r is metered.
func (r *Route) upto() bool { return r.Scheme == SchemeUpto }

// metered wraps the upstream handler h of an upto route: it reads the
// usage the upstream reports in a header, when the answer starts, or in a
// trailer, once the body was copied, charges it to the request's payment
// (x402http.Charge or x402http.Use), and removes it from the client's
// answer. A malformed report is logged as an error and charges nothing:
// the payer pays only for usage that is reported.
func metered(h http.Handler, m Metering, log *slog.Logger) http.Handler {
	name := http.CanonicalHeaderKey(m.Header)
	perUnit := m.UnitPrice != ""
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		report := func(v string) {
			if err := chargeUsage(r, strings.TrimSpace(v), perUnit); err != nil {
				log.Error("upstream usage report not charged", "header", name, "value", v, "err", err)
			}
		}
		uw := &usageWriter{ResponseWriter: w, name: name, report: report}
		h.ServeHTTP(uw, r)
		// Trailers: httputil.ReverseProxy sets them on the header map once
		// the body was copied, announced or with http.TrailerPrefix.
		hdr := w.Header()
		for _, k := range []string{name, http.TrailerPrefix + name} {
			for _, v := range hdr[k] {
				report(v)
			}
			delete(hdr, k)
		}
	})
}

// chargeUsage charges a usage report of r.
func chargeUsage(r *http.Request, v string, perUnit bool) error {
	if perUnit {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not a count of units: %w", err)
		}
		return x402http.Use(r, n)
	}
	a, err := x402.ParseAmount(v)
	if err != nil {
		return err
	}
	return x402http.Charge(r, a)
}

// usageWriter takes the usage header off the answer as it starts.
type usageWriter struct {
	http.ResponseWriter
	name   string
	report func(string)
	wrote  bool
}

func (u *usageWriter) WriteHeader(code int) {
	if !u.wrote && code >= 200 {
		u.wrote = true
		h := u.Header()
		for _, v := range h[u.name] {
			u.report(v)
		}
		delete(h, u.name)
		unannounce(h, u.name)
	}
	u.ResponseWriter.WriteHeader(code)
}

// unannounce removes name from the Trailer header's list.
func unannounce(h http.Header, name string) {
	vs := h.Values("Trailer")
	if len(vs) == 0 {
		return
	}
	var keep []string
	for _, v := range vs {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" && !strings.EqualFold(k, name) {
				keep = append(keep, k)
			}
		}
	}
	h.Del("Trailer")
	if len(keep) > 0 {
		h.Set("Trailer", strings.Join(keep, ", "))
	}
}

func (u *usageWriter) Write(p []byte) (int, error) {
	if !u.wrote {
		u.WriteHeader(http.StatusOK)
	}
	return u.ResponseWriter.Write(p)
}

// FlushError passes a flush through (server-sent events).
func (u *usageWriter) FlushError() error {
	if !u.wrote {
		u.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(u.ResponseWriter).Flush()
}

// Flush is FlushError without the error.
func (u *usageWriter) Flush() { _ = u.FlushError() }

// Unwrap lets http.ResponseController reach the writer beneath.
func (u *usageWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
