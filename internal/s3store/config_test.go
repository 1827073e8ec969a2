package s3store

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	valid.Bucket = "b"
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(default with a bucket) = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no bucket", func(c *Config) { c.Bucket = "" }, "a bucket is required"},
		{"absolute prefix", func(c *Config) { c.Prefix = "/a" }, "prefix"},
		{"empty segment", func(c *Config) { c.Prefix = "a//b" }, "prefix"},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "localhost:9000" }, "endpoint"},
		{"small cache", func(c *Config) { c.CacheSize = c.ReadSize }, "cache size"},
		{"no read size", func(c *Config) { c.ReadSize = 0 }, "read size"},
		{"no pack size", func(c *Config) { c.PackSize = 0 }, "pack size"},
		{"small parts", func(c *Config) { c.PartSize = 1 << 20 }, "part size"},
		{"multipart below a part", func(c *Config) { c.MultipartSize = c.PartSize - 1 }, "multipart size"},
	} {
		c := valid
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%s) = %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	for prefix, want := range map[string]string{"": "", "a": "a/", "a/b/": "a/b/"} {
		c := valid
		c.Prefix = prefix
		if got := c.keyPrefix(); got != want {
			t.Errorf("keyPrefix(%q) = %q, want %q", prefix, got, want)
		}
	}
}
