package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
		def := "`" + k.Default + "`"
		if k.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Name, k.Env(), def, strings.ReplaceAll(k.Doc, "|", `\|`))
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

// TestReadmeHasEveryKey keeps the README's configuration table (between the
// <!-- keys --> markers) identical to keys.md.
func TestReadmeHasEveryKey(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile("keys.md")
	if err != nil {
		t.Fatal(err)
	}
	var table []string
	for _, l := range strings.Split(string(keys), "\n") {
		if strings.HasPrefix(l, "|") {
			table = append(table, l)
		}
	}
	if !strings.Contains(string(readme), strings.Join(table, "\n")) {
		t.Fatal("README.md's configuration table differs from ctrl/config/keys.md: paste keys.md's table between the <!-- keys --> markers")
	}
}
