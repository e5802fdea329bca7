package webui

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// SDKFile is the file, relative to the SDK directory, that the page imports.
const SDKFile = "sora.js"

// sdkPrefix is the URL prefix under which the SDK directory is served.
const sdkPrefix = "/sdk/"

// MissingSDKMessage is shown on the page when the SDK is not installed.
const MissingSDKMessage = "sora-js-sdk is not installed: run `make sdk`"

// Errors returned while resolving an SDK file name. They never reach the
// client (which sees 404); they are exported so tests and callers can tell
// why a name was refused.
var (
	// ErrWebUIBadName reports a name that is empty, absolute, or escapes the SDK directory.
	ErrWebUIBadName = errors.New("webui: bad file name")
	// ErrWebUINotFile reports a name that resolves to something other than a regular file.
	ErrWebUINotFile = errors.New("webui: not a regular file")
)

//go:embed index.html
var indexHTML []byte

// sdkMissingMarker is replaced in index.html by the missing-SDK banner.
var sdkMissingMarker = []byte("<!--SDK-MISSING-->")

// The two renderings of the page, built once: the SDK is installed or not.
var (
	pageWithSDK    = bytes.Replace(indexHTML, sdkMissingMarker, nil, 1)
	pageWithoutSDK = bytes.Replace(indexHTML, sdkMissingMarker,
		[]byte(`<p id="sdk-missing" class="error">`+html.EscapeString(MissingSDKMessage)+`</p>`), 1)
)

// Handler returns the handler for the try-it page and the SDK files found in
// sdkDir. sdkDir may not exist yet; the page then says how to install the SDK.
func Handler(sdkDir string) http.Handler {
	return &handler{sdkDir: sdkDir}
}

type handler struct {
	sdkDir string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/":
		if !allowMethod(w, r) {
			return
		}
		h.servePage(w, r)
	case strings.HasPrefix(p, sdkPrefix):
		if !allowMethod(w, r) {
			return
		}
		h.serveSDK(w, r, strings.TrimPrefix(p, sdkPrefix))
	default:
		http.NotFound(w, r)
	}
}

func allowMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed: "+r.Method, http.StatusMethodNotAllowed)
	return false
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	page := pageWithSDK
	if !h.sdkInstalled() {
		page = pageWithoutSDK
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(page))
}

func (h *handler) sdkInstalled() bool {
	fi, err := os.Stat(filepath.Join(h.sdkDir, SDKFile))
	return err == nil && fi.Mode().IsRegular()
}

func (h *handler) serveSDK(w http.ResponseWriter, r *http.Request, name string) {
	f, fi, err := openInside(h.sdkDir, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", contentType(name))
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// openInside opens the regular file name (slash-separated, relative) inside
// dir. Resolution goes through os.Root, so neither ".." nor a symbolic link
// can reach a file outside dir.
func openInside(dir, name string) (*os.File, fs.FileInfo, error) {
	if name == "" || strings.Contains(name, "\\") || strings.Contains(name, "\x00") ||
		path.IsAbs(name) || !fs.ValidPath(name) {
		return nil, nil, fmt.Errorf("%w: %q", ErrWebUIBadName, name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %q", ErrWebUINotFile, name)
	}
	return f, fi, nil
}

// contentType names the media type of an SDK file by its extension. Module
// scripts must be served with a JavaScript type or the browser refuses them.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".map", ".json":
		return "application/json"
	case ".ts":
		return "text/plain; charset=utf-8"
	default:
		return "application/octet-stream"
	}
}
