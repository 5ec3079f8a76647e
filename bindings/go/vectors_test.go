package moekit_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The shared test vectors (tests/vectors/manifest.json, format 1): raw little-endian row-major .bin files.
type vectorTensor struct {
	File  string  `json:"file"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Role  string  `json:"role"`
}

type vectorCase struct {
	Name      string                  `json:"name"`
	Kind      string                  `json:"kind"`
	Params    map[string]interface{}  `json:"params"`
	Tolerance float64                 `json:"tolerance"`
	Tensors   map[string]vectorTensor `json:"tensors"`
	dir       string
}

func vectorsDir() string {
	if d := os.Getenv("MOEKIT_TEST_VECTORS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "tests", "vectors")
}

func loadCases(t *testing.T, kind string) []vectorCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorsDir(), "manifest.json"))
	if err != nil {
		t.Fatalf("shared test vectors: %v", err)
	}
	var manifest struct {
		Format int          `json:"format"`
		Cases  []vectorCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil || manifest.Format != 1 {
		t.Fatalf("manifest: format %d, %v", manifest.Format, err)
	}
	var out []vectorCase
	for _, c := range manifest.Cases {
		if c.Kind == kind {
			c.dir = vectorsDir()
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s cases in the shared test vectors", kind)
	}
	return out
}

func (c vectorCase) bytes(t *testing.T, name string) []byte {
	t.Helper()
	v, ok := c.Tensors[name]
	if !ok {
		t.Fatalf("%s: no tensor %q", c.Name, name)
	}
	data, err := os.ReadFile(filepath.Join(c.dir, v.File))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (c vectorCase) has(name string) bool      { _, ok := c.Tensors[name]; return ok }
func (c vectorCase) shape(name string) []int64 { return c.Tensors[name].Shape }

func (c vectorCase) f32(t *testing.T, name string) []float32 {
	b := c.bytes(t, name)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func (c vectorCase) i32(t *testing.T, name string) []int32 {
	b := c.bytes(t, name)
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func (c vectorCase) u16(t *testing.T, name string) []uint16 {
	b := c.bytes(t, name)
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

func (c vectorCase) num(name string) float64 { return c.Params[name].(float64) }
func (c vectorCase) flag(name string) bool   { return c.Params[name].(bool) }
func (c vectorCase) str(name string) string  { return c.Params[name].(string) }
