package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/bytedance/sonic"
)

// Mode, license and crash log.

type modeResult struct {
	Mode string `json:"mode"`
}

func (a *API) changeMode(req *changeModeRequest) (any, *Error) {
	if err := a.cfg.Rooms.SetMode(req.Mode); err != nil {
		return nil, invalidValue("mode", "%v", err)
	}
	return modeResult{string(a.cfg.Rooms.Mode())}, nil
}

func (a *API) getMode(*noRequest) (any, *Error) {
	return modeResult{string(a.cfg.Rooms.Mode())}, nil
}

type licenseJSON struct {
	ExpiredAt      string `json:"expired_at"`
	MaxConnections int    `json:"max_connections"`
	ProductName    string `json:"product_name"`
	SerialCode     string `json:"serial_code"`
	Type           string `json:"type"`
}

func (a *API) getLicense(*noRequest) (any, *Error) {
	l := a.cfg.License
	out := licenseJSON{ExpiredAt: l.ExpiredAt, MaxConnections: l.MaxConnections, ProductName: ProductName,
		SerialCode: l.SerialCode, Type: l.Type}
	if out.ExpiredAt == "" {
		out.ExpiredAt = "9999-12"
	}
	if out.SerialCode == "" {
		out.SerialCode = "HAYATE"
	}
	if out.Type == "" {
		out.Type = "OSS"
	}
	return out, nil
}

type crashLogResult struct {
	Path string `json:"path"`
}

// generateCrashLog writes a report of the running process (what a crash
// would leave behind: versions, runtime statistics, every goroutine's
// stack, and the info object given) to a new file in CrashLogDir and returns
// its path. The server keeps running.
func (a *API) generateCrashLog(req *crashLogRequest) (any, *Error) {
	now := a.cfg.Now().UTC()
	f, err := os.CreateTemp(a.cfg.CrashLogDir, "hayate-crash-"+now.Format("20060102T150405Z")+"-*.log")
	if err != nil {
		return nil, internalError("creating the crash log: %v", err)
	}
	path := f.Name()
	err = a.writeCrashLog(f, req.Info, now.Format("2006-01-02T15:04:05.000Z"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, internalError("writing the crash log %s: %v", path, err)
	}
	a.log.Warn("api: crash log written on request", "path", path)
	return crashLogResult{Path: path}, nil
}

func (a *API) writeCrashLog(f *os.File, info json.RawMessage, at string) error {
	w := bufio.NewWriter(f)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mem, err := sonic.ConfigStd.MarshalIndent(&ms, "", "  ")
	if err != nil {
		return err
	}
	infoText := "(none)"
	if info != nil {
		if b, err := sonic.ConfigStd.MarshalIndent(info, "", "  "); err == nil {
			infoText = string(b)
		}
	}
	fmt.Fprintf(w, "Hayate crash log, written on request (Sora_20221221.GenerateCrashLog); the server kept running.\n")
	fmt.Fprintf(w, "time: %s\nversion: %s\ngo: %s %s/%s\ncpus: %d, GOMAXPROCS %d, goroutines %d\nmode: %s\n",
		at, a.cfg.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.NumGoroutine(), a.cfg.Rooms.Mode())
	chans := a.cfg.Rooms.Channels()
	conns := 0
	for _, c := range chans {
		conns += c.Connections
	}
	fmt.Fprintf(w, "channels: %d, connections: %d\n", len(chans), conns)
	fmt.Fprintf(w, "\n== info ==\n%s\n\n== runtime.MemStats ==\n%s\n\n== goroutines ==\n", infoText, mem)
	if err := pprof.Lookup("goroutine").WriteTo(w, 2); err != nil {
		return err
	}
	return w.Flush()
}
