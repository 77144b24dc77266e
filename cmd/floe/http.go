package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

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

// handler serves /metrics, /healthz (the process is alive), /readyz (the
// group is joined and every table can commit) and, when http.pprof is set,
// /debug/pprof/.
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
	if p.cfg.HTTP.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}
