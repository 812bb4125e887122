package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/healthcare-prediction/api/internal/moto/mototest"
	"github.com/healthcare-prediction/api/internal/secrets"
)

// documentedCommands returns the apikey commands of each sh block of
// docs/sam.md's "API keys" section, as argument lists.
func documentedCommands(t *testing.T) [][][]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/sam.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n### API keys\n")
	if start < 0 {
		t.Fatal(`docs/sam.md has no "### API keys" section`)
	}
	section := doc[start+1:]
	if end := strings.Index(section, "\n### "); end >= 0 {
		section = section[:end]
	}
	var blocks [][][]string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		var cmds [][]string
		for _, line := range strings.Split(block[1], "\n") {
			line, _, _ = strings.Cut(line, " #")
			if strings.TrimSpace(line) == "" {
				continue
			}
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[0] != "go" || fields[1] != "run" || fields[2] != "./cmd/apikey" {
				t.Fatalf("docs/sam.md, API keys: %q is not an apikey command; this test runs every command of the section", line)
			}
			cmds = append(cmds, fields[3:])
		}
		blocks = append(blocks, cmds)
	}
	return blocks
}

// testDocumentedProcedures runs the commands docs/sam.md gives for adding a
// client, rotating its key and revoking it, on a secret as the stack
// creates it, and checks after each command which keys a cache of the
// secret accepts: the rotation never locks the client out, and its end
// leaves only the new key. (Run by TestCommands.)
func testDocumentedProcedures(t *testing.T, srv *mototest.Server) {
	blocks := documentedCommands(t)
	if len(blocks) != 3 {
		t.Fatalf("docs/sam.md, API keys: %d sh blocks, want 3 (add, rotate, revoke)", len(blocks))
	}
	const arn = "ApiKeysSecret-docs"
	srv.PutSecret(arn, `{"keys":[]}`) // template.yaml's initial SecretString
	cache := motoCache(t, srv, arn)

	// runBlock runs one block's commands, replacing the placeholders, and
	// returns what each printed on stdout.
	var oldDigest string
	runBlock := func(name string, cmds [][]string) []string {
		t.Helper()
		var outs []string
		for _, args := range cmds {
			args = append([]string(nil), args...)
			for i, a := range args {
				switch a {
				case "<ApiKeysSecretArn>":
					args[i] = arn
				case "<old-digest>":
					args[i] = oldDigest
				}
			}
			out, note, err := apikey(t, "", args...)
			if err != nil {
				t.Fatalf("%s: apikey %q: %v\n%s", name, args, err, note)
			}
			outs = append(outs, out)
		}
		return outs
	}

	outs := runBlock("add a client", blocks[0])
	if len(outs) != 1 || !keyLine.MatchString(outs[0]) {
		t.Fatalf("add a client: printed %q, want one key", outs)
	}
	old := strings.TrimSpace(outs[0])
	checkKeys(t, cache, map[string]string{old: "clinic-a"})

	// The rotation block: -rotate, -list, -revoke -digest <old-digest>.
	rotation := blocks[1]
	if len(rotation) != 3 {
		t.Fatalf("rotation: %d commands, want 3", len(rotation))
	}
	fresh := strings.TrimSpace(runBlock("rotate", rotation[:1])[0])
	if !keyLine.MatchString(fresh + "\n") {
		t.Fatalf("rotate printed %q, want a key", fresh)
	}
	checkKeys(t, cache, map[string]string{old: "clinic-a", fresh: "clinic-a"})
	list := runBlock("list", rotation[1:2])[0]
	oldDigest = secrets.Digest(old)[:12]
	if !strings.Contains(list, oldDigest) || !strings.Contains(list, secrets.Digest(fresh)[:12]) {
		t.Fatalf("-list printed\n%s\nwithout the digests of both keys", list)
	}
	runBlock("finish the rotation", rotation[2:])
	checkKeys(t, cache, map[string]string{old: "", fresh: "clinic-a"})

	runBlock("revoke the client", blocks[2])
	checkKeys(t, cache, map[string]string{old: "", fresh: ""})
}

// TestDocumentedKeyPattern: the scanning pattern in the docs is the one
// keys are made by.
func TestDocumentedKeyPattern(t *testing.T) {
	for _, file := range []string{"../../docs/sam.md", "../../README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "`"+secrets.KeyPattern+"`") {
			t.Errorf("%s does not give the key pattern `%s`", file, secrets.KeyPattern)
		}
	}
}
