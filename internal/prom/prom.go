// Package prom registers floe's Prometheus collectors on an injected
// registry, so several components (one committer per table, the catalog and
// object-store transports) can share one metric family, and holds the
// collectors client_golang lacks (a histogram that takes weighted
// observations).
package prom

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns it, or returns the collector
// already registered under the same description (another table's committer
// made it first). A nil reg registers nothing. Any other registration error
// is a programming error and panics, as promauto does.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector.(T)
		}
		panic(err)
	}
	return c
}
