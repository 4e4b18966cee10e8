// ocicryptcheck encrypts and decrypts one image layer with github.com/containers/ocicrypt, whose
// key wrapping goes to the key providers named in $OCICRYPT_KEYPROVIDER_CONFIG (read by ocicrypt
// at start). The modelseal tests (test/interop/keyprovider.test.ts) name `modelseal keyprovider`.
//
//	ocicryptcheck encrypt <provider> <layer> <dir> [param...]  writes <dir>/layer.enc and <dir>/annotations.json
//	ocicryptcheck decrypt <provider> <dir> <out> [param...]    writes the layer ocicrypt decrypted to <out>
//
// Each param becomes one value of the provider's parameters, as `--encryption-key
// provider:<provider>:<param>` (and `--decryption-key`) do in skopeo or ctr-enc. On success one JSON
// line goes to stdout; on failure ocicrypt's error goes to stderr and the exit code is 1.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/config"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func providerParams(provider string, params []string) [][]byte {
	if len(params) == 0 {
		return [][]byte{[]byte(provider)}
	}
	out := make([][]byte, 0, len(params))
	for _, p := range params {
		out = append(out, []byte(provider+":"+p))
	}
	return out
}

func encrypt(provider, layerPath, dir string, params []string) (map[string]any, error) {
	layer, err := os.ReadFile(layerPath)
	if err != nil {
		return nil, err
	}
	cc, err := config.EncryptWithKeyProvider(providerParams(provider, params))
	if err != nil {
		return nil, err
	}
	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayer,
		Digest:    digest.FromBytes(layer),
		Size:      int64(len(layer)),
	}
	reader, finalize, err := ocicrypt.EncryptLayer(cc.EncryptConfig, bytes.NewReader(layer), desc)
	if err != nil {
		return nil, err
	}
	encrypted, err := io.ReadAll(reader)
	if err != nil {
		return nil, err
	}
	annotations, err := finalize()
	if err != nil {
		return nil, err
	}
	desc.Annotations = annotations
	desc.Digest = digest.FromBytes(encrypted)
	desc.Size = int64(len(encrypted))
	descJSON, err := json.Marshal(desc)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "layer.enc"), encrypted, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "descriptor.json"), descJSON, 0o600); err != nil {
		return nil, err
	}
	return map[string]any{"annotations": annotations, "encryptedDigest": desc.Digest.String()}, nil
}

func decrypt(provider, dir, outPath string, params []string) (map[string]any, error) {
	var desc ocispec.Descriptor
	descJSON, err := os.ReadFile(filepath.Join(dir, "descriptor.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(descJSON, &desc); err != nil {
		return nil, err
	}
	encrypted, err := os.Open(filepath.Join(dir, "layer.enc"))
	if err != nil {
		return nil, err
	}
	defer encrypted.Close()
	cc, err := config.DecryptWithKeyProvider(providerParams(provider, params))
	if err != nil {
		return nil, err
	}
	reader, plainDigest, err := ocicrypt.DecryptLayer(cc.DecryptConfig, encrypted, desc, false)
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(reader) // the block cipher checks its HMAC at EOF
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(outPath, plain, 0o600); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(plain)
	return map[string]any{"digest": "sha256:" + hex.EncodeToString(sum[:]), "layerDigest": plainDigest.String(), "size": len(plain)}, nil
}

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: ocicryptcheck encrypt <provider> <layer> <dir> [param...] | decrypt <provider> <dir> <out> [param...]")
		os.Exit(2)
	}
	var result map[string]any
	var err error
	switch os.Args[1] {
	case "encrypt":
		result, err = encrypt(os.Args[2], os.Args[3], os.Args[4], os.Args[5:])
	case "decrypt":
		result, err = decrypt(os.Args[2], os.Args[3], os.Args[4], os.Args[5:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		os.Exit(1)
	}
}
