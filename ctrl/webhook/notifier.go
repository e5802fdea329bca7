package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// NotifierConfig configures a Notifier (session or event webhook).
type NotifierConfig struct {
	URL string
	// Workers sending at once; 0 means 5.
	Workers int
	// Queue bounds the requests waiting; 0 means 1024. A full queue drops
	// (counted as ignored) rather than block the caller.
	Queue   int
	Timeout time.Duration // per request; 0 means 5 s
	Logger  *slog.Logger
}

// Notifier sends webhook bodies in the background.
type Notifier struct {
	cfg  NotifierConfig
	http *http.Client
	q    chan []byte
	wg   sync.WaitGroup

	mu     sync.RWMutex // guards closed against Send racing Close
	closed bool

	Successful, Failed, Ignored atomic.Uint64
}

// NewNotifier starts the workers; a Notifier without URL drops nothing and sends nothing.
func NewNotifier(cfg NotifierConfig) *Notifier {
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	if cfg.Queue == 0 {
		cfg.Queue = 1024
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Notifier{cfg: cfg, http: &http.Client{Timeout: cfg.Timeout}, q: make(chan []byte, cfg.Queue)}
	if cfg.URL != "" {
		for i := 0; i < cfg.Workers; i++ {
			n.wg.Add(1)
			go n.work()
		}
	}
	return n
}

// Send queues one body; it never blocks.
func (n *Notifier) Send(body any) {
	if n.cfg.URL == "" {
		return
	}
	raw, err := json.Marshal(body)
	if err != nil {
		n.Failed.Add(1)
		return
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.Ignored.Add(1)
		return
	}
	select {
	case n.q <- raw:
	default:
		n.Ignored.Add(1)
		n.cfg.Logger.Warn("webhook queue full, dropped", "url", n.cfg.URL)
	}
}

func (n *Notifier) work() {
	defer n.wg.Done()
	for raw := range n.q {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(raw))
		if err == nil {
			req.Header.Set("content-type", "application/json")
			var resp *http.Response
			if resp, err = n.http.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = &statusError{resp.StatusCode}
				}
			}
		}
		cancel()
		if err != nil {
			n.Failed.Add(1)
			n.cfg.Logger.Warn("webhook failed", "url", n.cfg.URL, "err", err)
			continue
		}
		n.Successful.Add(1)
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + http.StatusText(e.code) }

// Close stops accepting (later Sends are counted as ignored) and waits for
// the queued requests to be sent. Safe to call more than once.
func (n *Notifier) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.q)
	}
	n.mu.Unlock()
	n.wg.Wait()
}
