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
	"io"
	"net/http"
	"os"
	"sort"
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
	// "tilepath": a C2SP tile path; "serve": a running log's URL prefix
	Path string `json:"path"`
	URL  string `json:"url"`
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
	case "tilepath":
		// Go's sumdb paths carry the tile height (8 in C2SP tlog-tiles) and say "data" for
		// entries; its parser accepts a path only when it is the one canonical form of its tile.
		rest, ok := strings.CutPrefix(r.Path, "/tile/")
		if !ok {
			return response{}, errors.New("not a tile path")
		}
		if strings.HasPrefix(rest, "data/") {
			return response{}, errors.New("not a C2SP path")
		}
		if e, ok := strings.CutPrefix(rest, "entries/"); ok {
			rest = "data/" + e
		}
		t, err := tlog.ParseTilePath("tile/8/" + rest)
		if err != nil {
			return response{}, err
		}
		if t.L > 63 {
			return response{}, errors.New("level above 63")
		}
		return response{OK: true, Values: []string{strconv.Itoa(t.L), strconv.FormatInt(t.N, 10), strconv.Itoa(t.W)}}, nil
	case "serve":
		return serve(r.URL, r.Vkey)
	}
	return response{}, fmt.Errorf("unknown kind %q", r.Kind)
}

// httpTiles reads C2SP tiles from a log's URL prefix, for tlog.TileHashReader (which checks them
// against the tree); it records how entry bundles came (gzip or not).
type httpTiles struct {
	url  string
	seen map[string]bool
}

func (h *httpTiles) Height() int { return 8 }

func (h *httpTiles) get(path string) ([]byte, error) {
	resp, err := http.Get(h.url + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	// Go's transport asks for gzip itself and reports whether the body was decompressed.
	if parts := strings.SplitN(path, "/", 4); len(parts) == 4 && parts[1] == "tile" {
		h.seen["uncompressed:"+strconv.FormatBool(resp.Uncompressed)+":"+parts[2]] = true
	}
	return io.ReadAll(resp.Body)
}

func (h *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := h.get("/" + strings.Replace(t.Path(), "tile/8/", "tile/", 1))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (h *httpTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// serve checks a running log as a sumdb client would: the checkpoint under the key, every entry
// of every bundle against the tree through verified tiles.
func serve(url, vkey string) (response, error) {
	h := &httpTiles{url: strings.TrimSuffix(url, "/"), seen: map[string]bool{}}
	cp, err := h.get("/checkpoint")
	if err != nil {
		return response{}, err
	}
	v, err := checkpoint(vkey, string(cp))
	if err != nil {
		return response{}, err
	}
	sizeText, rootText, _ := strings.Cut(v, " ")
	size, _ := strconv.ParseInt(sizeText, 10, 64)
	root, err := hash(rootText)
	if err != nil {
		return response{}, err
	}
	reader := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, h)
	for start := int64(0); start < size; start += 256 {
		w := size - start
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(w)}
		bundle, err := h.get("/" + strings.Replace(t.Path(), "tile/8/data/", "tile/entries/", 1))
		if err != nil {
			return response{}, err
		}
		want, err := reader.ReadHashes(indexes(start, w))
		if err != nil {
			return response{}, err
		}
		for i := int64(0); i < w; i++ {
			if len(bundle) < 2 {
				return response{}, fmt.Errorf("entry bundle %d ends early", t.N)
			}
			n := int(bundle[0])<<8 | int(bundle[1])
			if len(bundle) < 2+n {
				return response{}, fmt.Errorf("entry bundle %d ends early", t.N)
			}
			if tlog.RecordHash(bundle[2:2+n]) != want[i] {
				return response{}, fmt.Errorf("entry %d does not hash to the tree's leaf", start+i)
			}
			bundle = bundle[2+n:]
		}
		if len(bundle) != 0 {
			return response{}, fmt.Errorf("entry bundle %d has bytes after its entries", t.N)
		}
	}
	values := []string{sizeText}
	for k := range h.seen {
		values = append(values, k)
	}
	sort.Strings(values[1:])
	return response{OK: true, Values: values}, nil
}

func indexes(start, w int64) []int64 {
	out := make([]int64, w)
	for i := range out {
		out[i] = tlog.StoredHashIndex(0, start+int64(i))
	}
	return out
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
