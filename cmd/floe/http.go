package main

import (
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (p *pipeline) listen() error {
	ln, err := net.Listen("tcp", p.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: listen on %s: %w", p.cfg.HTTP.Addr, err)
	}
	p.ln = ln
	p.log.Info("serving /metrics /healthz /readyz", "addr", ln.Addr().String())
	return nil
}

// handler serves /metrics, /healthz (the process is alive) and /readyz (the
// group is joined and every table can commit).
func (p *pipeline) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{Registry: p.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
