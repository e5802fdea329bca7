package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite keys.md from the key table")

// keysDoc renders the key table as the Markdown that the README's
// configuration section includes.
func keysDoc() []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated from ctrl/config/keys.go by `go test ./ctrl/config -run TestKeysDoc -update`. Do not edit. -->\n\n")
	b.WriteString("| key | environment | default | meaning |\n|---|---|---|---|\n")
	for _, k := range Keys() {
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s |\n", k.Name, k.Env(), k.Default, strings.ReplaceAll(k.Doc, "|", `\|`))
	}
	return b.Bytes()
}

func TestKeysDoc(t *testing.T) {
	want := keysDoc()
	if *update {
		if err := os.WriteFile("keys.md", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("keys.md")
	if err != nil {
		t.Fatalf("%v (create it with: go test ./ctrl/config -run TestKeysDoc -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("keys.md is out of date with the key table; regenerate it with: go test ./ctrl/config -run TestKeysDoc -update\n got:\n%s\nwant:\n%s", got, want)
	}
}
