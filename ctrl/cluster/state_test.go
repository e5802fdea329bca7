package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
	}
}

// readScenario returns the commands of a scenario file (one JSON command
// per line; # comments and blank lines are kept for the output).
func readScenario(t *testing.T, path string) (lines []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func describe(r Result) string {
	var parts []string
	switch {
	case r.Err != nil:
		parts = append(parts, "refused: "+r.Err.Error())
	case r.Noop:
		parts = append(parts, "no-op")
	default:
		parts = append(parts, "applied")
	}
	if r.Owner != (Owner{}) || r.Claimed {
		parts = append(parts, fmt.Sprintf("owner=%s/%d claimed=%v", r.Owner.Node, r.Owner.Epoch, r.Claimed))
	}
	return strings.Join(parts, " ")
}

// TestStateScenarios applies each testdata/state/*.txt scenario and
// compares every result and the final state with its .golden file. The
// same commands applied again, and applied across a snapshot taken half
// way, must give the same state: Apply is deterministic.
func TestStateScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/state/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			var cmds []*Command
			var out bytes.Buffer
			s := NewState()
			for _, line := range readScenario(t, path) {
				if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
					out.WriteString(line + "\n")
					continue
				}
				c := &Command{}
				if err := json.Unmarshal([]byte(line), c); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				cmds = append(cmds, c)
				fmt.Fprintf(&out, "> %s\n  %s\n", line, describe(s.Apply(c)))
			}
			final, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString("\nstate:\n")
			out.Write(final)
			out.WriteString("\n")
			golden(t, "state/"+name+".golden", out.Bytes())

			// Replay, with a snapshot round trip half way.
			again := NewState()
			for i, c := range cmds {
				if i == len(cmds)/2 {
					b, err := again.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					if again, err = UnmarshalState(b); err != nil {
						t.Fatal(err)
					}
				}
				again.Apply(c)
			}
			b1, _ := s.Marshal()
			b2, _ := again.Marshal()
			if !bytes.Equal(b1, b2) {
				t.Errorf("replay gave another state:\n%s\nvs\n%s", b1, b2)
			}
			// Clone is deep: changing the clone leaves s alone.
			cl := s.Clone()
			for _, m := range cl.Members {
				m.Epoch += 100
			}
			cl.Channels["cloned"] = Owner{Node: "x"}
			if b3, _ := s.Marshal(); !bytes.Equal(b1, b3) {
				t.Errorf("changing a clone changed the state")
			}
		})
	}
}

// TestClaimNeverTwoOwners: whatever order competing claims of one
// channel are applied in, the channel ends with exactly one owner, and
// every claim's result names that owner or an earlier one it replaced.
func TestClaimNeverTwoOwners(t *testing.T) {
	base := NewState()
	base.Apply(&Command{Op: OpInit, ClusterID: "c", Member: &Member{Name: "a@h", ID: 1}})
	base.Apply(&Command{Op: OpAdd, Member: &Member{Name: "b@h", ID: 2}})
	base.Apply(&Command{Op: OpAdd, Member: &Member{Name: "c@h", ID: 3}})
	claims := []*Command{
		{Op: OpClaim, Channel: "x", Node: "a@h", Epoch: 1},
		{Op: OpClaim, Channel: "x", Node: "b@h", Epoch: 1},
		{Op: OpClaim, Channel: "x", Node: "c@h", Epoch: 1},
	}
	// Every permutation of three claims made on the same empty view.
	perms := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		s := base.Clone()
		winners := 0
		for _, i := range p {
			if r := s.Apply(claims[i]); r.Claimed {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("order %v: %d claims won, want 1", p, winners)
		}
		if got := s.Channels["x"].Node; got != claims[p[0]].Node {
			t.Errorf("order %v: owner %s, want the first claim's %s", p, got, claims[p[0]].Node)
		}
	}
}
