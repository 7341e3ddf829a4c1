package milter

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// startHTTP opens metrics.listen with the Prometheus endpoint /metrics and
// the health check /healthz.
func (d *Daemon) startHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.metrics)
	mux.HandleFunc("/healthz", d.healthz)
	d.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	d.httpLn = ln
	go d.http.Serve(ln)
	return nil
}

// MetricsAddr is the address of the metrics and health endpoint, nil when
// metrics.listen is off.
func (d *Daemon) MetricsAddr() net.Addr {
	if d.httpLn == nil {
		return nil
	}
	return d.httpLn.Addr()
}

// healthz is for load balancers and monitoring: 200 while the milter
// socket accepts connections and an engine is loaded; 503 from the moment
// a shutdown begins, so a balancer moves new SMTP sessions elsewhere
// while the sessions in progress drain.
func (d *Daemon) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status, text := http.StatusOK, "ok"
	switch {
	case d.draining.Load():
		status, text = http.StatusServiceUnavailable, "draining"
	case !d.serving.Load() || d.current() == nil || d.current().engine == nil:
		status, text = http.StatusServiceUnavailable, "not serving"
	}
	w.WriteHeader(status)
	fmt.Fprintln(w, text)
}
