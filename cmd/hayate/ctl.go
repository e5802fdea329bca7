package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/api"
)

// runCtl is `hayate ctl`: one call of the HTTP API, the answer pretty-printed.
//
//	hayate ctl [--url URL] [--date YYYYMMDD] Operation [key=value | key:=json]…
//	hayate ctl --list
//
// Operation is a full x-sora-target (Sora_20201013.ListChannels) or just the
// operation name (ListChannels), completed with --date or else from the
// server's dispatch table (the newest date when there are several).
// key=value sends a JSON string, key:=json any JSON value. Exit status: 0
// for a 2xx answer (printed to stdout), 1 for any other answer (printed to
// stderr) or when the server cannot be reached, 2 for a usage error.
func runCtl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hayate ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:3000/", "the API `URL` (api_port)")
	date := fs.String("date", "", "complete an operation name as Sora_`YYYYMMDD`.Name instead of looking the date up")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	list := fs.Bool("list", false, "list the operations this version knows and exit")
	fs.Usage = func() { ctlUsage(fs, stdout) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "Usage: hayate ctl [--url URL] [--date YYYYMMDD] Operation [key=value | key:=json]… (hayate ctl --help)")
		return exitUsage
	}
	if *list {
		for _, t := range api.Targets() {
			if t.Implemented {
				fmt.Fprintln(stdout, t.Name)
			} else {
				fmt.Fprintf(stdout, "%s  (not implemented: %s)\n", t.Name, t.Missing)
			}
		}
		return exitOK
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "hayate ctl: no operation given (hayate ctl --list shows them)")
		return exitUsage
	}
	target, err := ctlTarget(fs.Arg(0), *date)
	if err != nil {
		fmt.Fprintf(stderr, "hayate ctl: %v\n", err)
		return exitUsage
	}
	body, err := ctlBody(fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "hayate ctl: %v\n", err)
		return exitUsage
	}

	req, err := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "hayate ctl: --url %q: %v\n", *url, err)
		return exitUsage
	}
	req.Header.Set("x-sora-target", target)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "hayate ctl: %s: %v\n", target, err)
		return exitFail
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "hayate ctl: %s: reading the answer: %v\n", target, err)
		return exitFail
	}
	if resp.StatusCode/100 == 2 {
		writeAnswer(stdout, answer)
		return exitOK
	}
	fmt.Fprintf(stderr, "hayate ctl: %s: %s\n", target, resp.Status)
	writeAnswer(stderr, answer)
	return exitFail
}

func ctlUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, `Usage: hayate ctl [flags] Operation [key=value | key:=json]…

Calls one operation of the Hayate (Sora-compatible) HTTP API and prints the
JSON answer. Operation is Sora_YYYYMMDD.Name or just Name. key=value sends a
string, key:=json any JSON value, e.g.

  hayate ctl ListChannels
  hayate ctl PushChannel channel_id=sora data:='{"spam":"egg"}'
  hayate ctl --url http://10.0.0.5:3000/ ChangeMode mode=block_new_connection

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

var datePattern = regexp.MustCompile(`^[0-9]{8}$`)

// ctlTarget turns an operation argument into an x-sora-target.
func ctlTarget(name, date string) (string, error) {
	if strings.Contains(name, ".") {
		if date != "" {
			return "", fmt.Errorf("%q already has a date; drop --date", name)
		}
		return name, nil
	}
	if date != "" {
		if !datePattern.MatchString(date) {
			return "", fmt.Errorf("--date %q is not YYYYMMDD", date)
		}
		return "Sora_" + date + "." + name, nil
	}
	var found []string
	for _, t := range api.Targets() {
		if t.Operation() == name {
			found = append(found, t.Name)
		}
	}
	if len(found) == 0 {
		for _, t := range api.Targets() {
			if strings.EqualFold(t.Operation(), name) {
				return "", fmt.Errorf("unknown operation %q; did you mean %s?", name, t.Operation())
			}
		}
		return "", fmt.Errorf("unknown operation %q (hayate ctl --list shows the known ones; give Sora_YYYYMMDD.%s or --date for others)", name, name)
	}
	slices.Sort(found)
	return found[len(found)-1], nil
}

// ctlBody builds the JSON object of key=value and key:=json arguments, in
// their order. No argument is an empty body.
func ctlBody(args []string) ([]byte, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	seen := map[string]bool{}
	for i, a := range args {
		key, value, raw := "", "", false
		if k, v, ok := strings.Cut(a, ":="); ok && !strings.Contains(k, "=") {
			key, value, raw = k, v, true
		} else if k, v, ok := strings.Cut(a, "="); ok {
			key, value = k, v
		} else {
			return nil, fmt.Errorf("argument %q is neither key=value nor key:=json", a)
		}
		if key == "" {
			return nil, fmt.Errorf("argument %q has no key", a)
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		if raw {
			if !json.Valid([]byte(value)) {
				return nil, fmt.Errorf("%s:= %s is not JSON (quote strings, or use %s=…)", key, strconv.Quote(value), key)
			}
			var c bytes.Buffer
			_ = json.Compact(&c, []byte(value))
			b.Write(c.Bytes())
		} else {
			v, _ := json.Marshal(value)
			b.Write(v)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeAnswer prints a JSON answer indented, anything else as it came.
func writeAnswer(w io.Writer, answer []byte) {
	var out bytes.Buffer
	if len(answer) > 0 && json.Indent(&out, answer, "", "  ") == nil {
		out.WriteByte('\n')
		_, _ = w.Write(out.Bytes())
		return
	}
	_, _ = w.Write(answer)
	if len(answer) > 0 && answer[len(answer)-1] != '\n' {
		fmt.Fprintln(w)
	}
}
