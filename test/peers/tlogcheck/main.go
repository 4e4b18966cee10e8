// tlogcheck: the independent verifier of modelseal's transparency log, built on Go's
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog. The TypeScript tests
// (test/interop/tlog-go.test.ts) write one JSON case per line on stdin; this prints one
// JSON verdict per line: {"ok":true} or {"ok":false,"error":"..."}.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type request struct {
	Kind string `json:"kind"`
	// note / checkpoint
	Vkey string `json:"vkey"`
	Note string `json:"note"`
	// proofs: sizes, root hashes (base64), leaf hash, proof hashes
	Index   int64    `json:"index"`
	Size    int64    `json:"size"`
	Root    string   `json:"root"`
	Leaf    string   `json:"leaf"`
	Old     int64    `json:"old"`
	OldRoot string   `json:"oldRoot"`
	Proof   []string `json:"proof"`
	// stored hashes (base64, in storage order) for "layout"
	Stored []string `json:"stored"`
}

type response struct {
	OK     bool     `json:"ok"`
	Error  string   `json:"error,omitempty"`
	Values []string `json:"values,omitempty"`
}

func hash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("bad hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func hashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := hash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// checkpoint opens a signed checkpoint note and parses origin, size and root (C2SP tlog-checkpoint).
func checkpoint(vkey, msg string) (string, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return "", err
	}
	n, err := note.Open([]byte(msg), note.VerifierList(v))
	if err != nil {
		return "", err
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		return "", errors.New("checkpoint origin does not match the key name")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", errors.New("bad checkpoint size")
	}
	if _, err := hash(lines[2]); err != nil {
		return "", err
	}
	return lines[1] + " " + lines[2], nil
}

func run(r request) (response, error) {
	switch r.Kind {
	case "checkpoint":
		v, err := checkpoint(r.Vkey, r.Note)
		if err != nil {
			return response{}, err
		}
		return response{OK: true, Values: []string{v}}, nil
	case "inclusion":
		root, err := hash(r.Root)
		if err != nil {
			return response{}, err
		}
		leaf, err := hash(r.Leaf)
		if err != nil {
			return response{}, err
		}
		p, err := hashes(r.Proof)
		if err != nil {
			return response{}, err
		}
		return response{OK: true}, tlog.CheckRecord(tlog.RecordProof(p), r.Size, root, r.Index, leaf)
	case "consistency":
		root, err := hash(r.Root)
		if err != nil {
			return response{}, err
		}
		old, err := hash(r.OldRoot)
		if err != nil {
			return response{}, err
		}
		p, err := hashes(r.Proof)
		if err != nil {
			return response{}, err
		}
		return response{OK: true}, tlog.CheckTree(tlog.TreeProof(p), r.Size, root, r.Old, old)
	case "layout":
		// Go's own reading of our stored hashes: the tree hash and the proofs it computes.
		stored, err := hashes(r.Stored)
		if err != nil {
			return response{}, err
		}
		if int64(len(stored)) != tlog.StoredHashCount(r.Size) {
			return response{}, fmt.Errorf("%d stored hashes, Go expects %d for size %d", len(stored), tlog.StoredHashCount(r.Size), r.Size)
		}
		reader := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(ix))
			for i, x := range ix {
				out[i] = stored[x]
			}
			return out, nil
		})
		th, err := tlog.TreeHash(r.Size, reader)
		if err != nil {
			return response{}, err
		}
		rp, err := tlog.ProveRecord(r.Size, r.Index, reader)
		if err != nil {
			return response{}, err
		}
		values := []string{base64.StdEncoding.EncodeToString(th[:])}
		for _, h := range rp {
			values = append(values, base64.StdEncoding.EncodeToString(h[:]))
		}
		if r.Old > 0 {
			tp, err := tlog.ProveTree(r.Size, r.Old, reader)
			if err != nil {
				return response{}, err
			}
			values = append(values, "|")
			for _, h := range tp {
				values = append(values, base64.StdEncoding.EncodeToString(h[:]))
			}
		}
		return response{OK: true, Values: values}, nil
	}
	return response{}, fmt.Errorf("unknown kind %q", r.Kind)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<28)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var r request
		resp := response{}
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			resp.Error = err.Error()
		} else if v, err := run(r); err != nil {
			resp = response{OK: false, Error: err.Error()}
		} else {
			resp = v
		}
		if err := out.Encode(resp); err != nil {
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
