package kuborpc

import (
	"encoding/pem"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// decodeKey turns any bytes into a key or a client error, never a panic,
// and a key it accepts is one libp2p can use.
func FuzzDecodeKey(f *testing.F) {
	sk, _, _ := crypto.GenerateEd25519Key(nil)
	raw, _ := crypto.MarshalPrivateKey(sk)
	der, err := pkcs8(sk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, false)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), true)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), true)
	f.Add([]byte{0x08, 0x01, 0x12, 0x00}, false)
	f.Fuzz(func(t *testing.T, data []byte, asPEM bool) {
		format := formatLibp2p
		if asPEM {
			format = formatPEM
		}
		k, err := decodeKey(data, format)
		if err != nil {
			if code, _ := status(err); code != 400 {
				t.Fatalf("error %v answered %d, want 400", err, code)
			}
			return
		}
		if _, err := k.Sign([]byte("x")); err != nil {
			t.Fatalf("an accepted key cannot sign: %v", err)
		}
	})
}
