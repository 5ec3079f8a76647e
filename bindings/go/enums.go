package moekit

import "github.com/moekit/moekit/bindings/go/internal/native"

// DType is a moekit_dtype. FP8, E8M0 and FP4 data travel as []byte of their raw encodings (FP4: two values
// per byte, low nibble first; shapes count bytes); F16 and BF16 as []uint16 of their bits.
type DType int32

const (
	F32DType       DType = 0
	F16DType       DType = 1
	BF16DType      DType = 2
	F8E4M3FNDType  DType = 3
	F8E5M2DType    DType = 4
	E8M0DType      DType = 5
	FP4E2M1X2DType DType = 6
	I32DType       DType = 7
	I64DType       DType = 8
	U8DType        DType = 9
	U32DType       DType = 10
)

// Size is the byte size of one element (1 for FP4E2M1X2, which packs two values); 0 if unknown.
func (d DType) Size() int64 { return native.Moekit_dtype_size(native.Enum_SS_moekit_dtype(d)) }

// String is the library's name of the dtype ("bfloat16").
func (d DType) String() string { return native.Moekit_dtype_name(native.Enum_SS_moekit_dtype(d)) }

// DeviceType uses DLPack's numbering.
type DeviceType int32

const (
	CPU  DeviceType = 1
	CUDA DeviceType = 2
	ROCm DeviceType = 10
)

// Backend selects where a Context runs.
type Backend int32

const (
	BackendAuto Backend = 0 // the best available: CUDA, then HIP, then CPU
	BackendCPU  Backend = 1
	BackendCUDA Backend = 2
	BackendHIP  Backend = 3
)

// Scoring is how the router scores experts.
type Scoring int32

const (
	Softmax Scoring = 0
	Sigmoid Scoring = 1
)

// QuantScheme is a quantizer's format.
type QuantScheme int32

const (
	FP8PerTensor QuantScheme = 0
	FP8PerToken  QuantScheme = 1
	FP8PerGroup  QuantScheme = 2
	FP8Block     QuantScheme = 3
	MXFP4        QuantScheme = 4
)

// Activation of the expert MLP.
type Activation int32

const (
	SiluMul   Activation = 0
	GeluMul   Activation = 1
	SwigluOAI Activation = 2
)

// WeightFormat of the expert weights.
type WeightFormat int32

const (
	WeightsBF16     WeightFormat = 0
	WeightsF16      WeightFormat = 1
	WeightsF32      WeightFormat = 2
	WeightsFP8Block WeightFormat = 3
	WeightsMXFP4    WeightFormat = 4
)

// ActQuant quantizes the GEMM inputs of the expert runner.
type ActQuant int32

const (
	ActQuantNone        ActQuant = 0
	ActQuantFP8PerToken ActQuant = 1
	ActQuantFP8PerGroup ActQuant = 2
)
