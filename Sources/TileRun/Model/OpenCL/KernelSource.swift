import Foundation

/// The OpenCL C kernels of the device backend, one program. Tensors are float32, row-major, contiguous.
/// Index arithmetic is 32-bit: `DeviceTensor` refuses buffers of 2³¹ elements or more.
enum KernelSource {
    /// How GEMMs (convolutions, matrix products) are split, per device kind.
    struct GEMMTiling: Equatable, Sendable {
        /// GPUs: `gemm`, where a work-group computes a TM×TN output tile, each work-item RM×RN of it in
        /// registers, stepping through K by TK with both operand tiles staged in local memory.
        /// CPUs (PoCL): `gemm_block`, where each work-item computes BM rows × 16 columns in float8
        /// registers straight from the caches: PoCL runs barrier-separated regions as loops over
        /// work-items with private arrays spilled to memory, which made the tiled kernel ~10× slower.
        var blocked: Bool
        var tm = 64, tn = 64, tk = 16, rm = 4, rn = 4
        var blockRows = 6

        /// The kernel for `kind`, unless `TILERUN_OPENCL_GEMM` is `tiled` or `blocked`.
        static func forDevice(_ kind: OpenCLDevice.Kind) -> GEMMTiling {
            switch ProcessInfo.processInfo.environment["TILERUN_OPENCL_GEMM"] {
            case "tiled": return GEMMTiling(blocked: false)
            case "blocked": return GEMMTiling(blocked: true)
            default: return GEMMTiling(blocked: kind == .cpu)
            }
        }

        var kernel: String { blocked ? "gemm_block" : "gemm" }

        /// Global and local sizes for an M×N output in `groups` groups.
        func launch(m: Int, n: Int, groups: Int) -> (global: [Int], local: [Int]) {
            if blocked { return ([(n + 15) / 16, (m + blockRows - 1) / blockRows, groups], [4, 1, 1]) }
            let (lx, ly) = (tn / rn, tm / rm)
            return ([(n + tn - 1) / tn * lx, (m + tm - 1) / tm * ly, groups], [lx, ly, 1])
        }

        var buildOptions: String {
            "-cl-std=CL1.2 -DTM=\(tm) -DTN=\(tn) -DTK=\(tk) -DRM=\(rm) -DRN=\(rn) -DBM=\(blockRows)"
        }
    }

    /// The program. Its activation codes are those of `FusedActivation.openCLCode`.
    static let source = #"""
// Activations, as FusedActivation defines them: 0 none, 1 relu, 2 leaky relu (a), 3 clip (a, b),
// 4 sigmoid, 5 hard sigmoid (a, b), 6 hard swish, 7 tanh.
inline float unit_clamp(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }

inline float activate(float x, int act, float a, float b) {
    switch (act) {
    case 1: return x < 0.0f ? 0.0f : x;
    case 2: return x < 0.0f ? a * x : x;
    case 3: { float y = x < a ? a : x; return y > b ? b : y; }
    case 4: return x >= 0.0f ? 1.0f / (1.0f + exp(-x)) : exp(x) / (1.0f + exp(x));
    case 5: return unit_clamp(a * x + b);
    case 6: return x * unit_clamp(x * (1.0f / 6.0f) + 0.5f);
    case 7: return tanh(x);
    default: return x;
    }
}

// Decomposes a row-major index over six axes (dims padded with leading 1s) into an offset by strides.
#define AXIS(s) { int c = r % dims.s; r /= dims.s; offset += c * strides.s; }
#define OFFSET6 AXIS(s5) AXIS(s4) AXIS(s3) AXIS(s2) AXIS(s1) AXIS(s0)

#define LX (TN / RN)
#define LY (TM / RM)
#define THREADS (LX * LY)

// Where GEMM's right operand comes from: an implicit im2col of a convolution input, or a strided matrix.
#define FROM_CONV 0
#define FROM_MATRIX 1

// Where column n = (b, oy, ox) of the product goes: Y[yOffset + (b·Mtotal + g·M + m)·plane + (y0 + oy·ys)·row + x0 + ox·xs],
// with out = (plane, row, y0, x0, ys, xs). Dense outputs: (OHW, OW, 0, 0, 1, 1); one phase of a transposed
// convolution: every ys-th row and xs-th column of the full output from (y0, x0).
// scatter_offset is that offset without yOffset and the channel's (g·M + m)·plane.
inline int scatter_offset(int n, int OHW, int OW, int Mtotal, int8 out) {
    const int b = n / OHW, p = n - b * OHW, oy = p / OW, ox = p - oy * OW;
    return b * Mtotal * out.s0 + (out.s2 + oy * out.s4) * out.s1 + out.s3 + ox * out.s5;
}

// Y = act(alpha · A·B + bias + beta · Y) for one group (get_group_id(2)).
// A[m, k] = A[aOffset + g·aGroup + m·aRow + k·aCol]: convolution weights [M][C·KH·KW] or a matrix.
// Column n of B is output pixel (b, oy, ox) of a convolution, or column n of a matrix (OHW = OW = N).
// Row m of the product goes to output channel g·M + m of Mtotal (scatter_offset).
__kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void gemm(__global const float* A, int aOffset, int aRow, int aCol, int aGroup,
          __global const float* X, int xOffset,
          __global float* Y, int yOffset,
          __global const float* bias, int hasBias,
          int M, int N, int K, int source,
          int C, int Cin, int H, int W, int OW, int OHW, int Mtotal,
          int KH, int KW, int sy, int sx, int dy, int dx, int pt, int pl,
          int bRow, int bCol, float alpha, float beta, int act, float act0, float act1, int8 out)
{
    __local float As[TK][TM + 1];   // +1: the k-fastest stores would otherwise hit one bank
    __local float Bs[TK][TN];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int lid = ly * LX + lx;
    const int n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM, g = get_group_id(2);

    // Each work-item loads one column of the B tile, so its pixel is decoded once.
    const int bn = lid % TN;
    const int n = n0 + bn;
    const bool nValid = n < N;
    int xBase = 0, oy = 0, ox = 0;
    if (source != FROM_MATRIX && nValid) {
        int b = n / OHW, p = n - b * OHW;
        oy = p / OW;
        ox = p - oy * OW;
        xBase = xOffset + (b * Cin + g * C) * H * W;
    }
    const int KHW = KH * KW;
    const int aBase = aOffset + g * aGroup;

    float acc[RM][RN];
    #pragma unroll
    for (int i = 0; i < RM; i++)
        #pragma unroll
        for (int j = 0; j < RN; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int t = lid; t < TM * TK; t += THREADS) {
            int ak = t % TK, am = t / TK;
            int m = m0 + am, k = k0 + ak;
            As[ak][am] = (m < M && k < K) ? A[aBase + m * aRow + k * aCol] : 0.0f;
        }
        for (int bk = lid / TN; bk < TK; bk += THREADS / TN) {
            int k = k0 + bk;
            float v = 0.0f;
            if (nValid && k < K) {
                if (source == FROM_MATRIX) {
                    v = X[xOffset + k * bRow + n * bCol];
                } else {
                    int c = k / KHW, r = k - c * KHW;
                    int ky = r / KW, kx = r - ky * KW;
                    int iy = oy * sy - pt + ky * dy, ix = ox * sx - pl + kx * dx;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = X[xBase + (c * H + iy) * W + ix];
                }
            }
            Bs[bk][bn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float a[RM], b[RN];
            #pragma unroll
            for (int i = 0; i < RM; i++) a[i] = As[kk][ly + i * LY];
            #pragma unroll
            for (int j = 0; j < RN; j++) b[j] = Bs[kk][lx + j * LX];
            #pragma unroll
            for (int i = 0; i < RM; i++)
                #pragma unroll
                for (int j = 0; j < RN; j++) acc[i][j] += a[i] * b[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int i = 0; i < RM; i++) {
        int m = m0 + ly + i * LY;
        if (m >= M) continue;
        float bv = hasBias ? bias[g * M + m] : 0.0f;
        for (int j = 0; j < RN; j++) {
            int nn = n0 + lx + j * LX;
            if (nn >= N) continue;
            int yi = yOffset + (g * M + m) * out.s0 + scatter_offset(nn, OHW, OW, Mtotal, out);
            float v = alpha * acc[i][j] + bv;
            if (beta != 0.0f) v += beta * Y[yi];
            Y[yi] = activate(v, act, act0, act1);
        }
    }
}

// The same product for CPU devices: each work-item accumulates BM rows × 16 columns in float8 registers
// (no local memory, no barriers). Columns that lie in one output row of a stride-1 convolution load as
// two vectors; the others are gathered lane by lane from pixels decoded once. Global size (⌈N/16⌉, ⌈M/BM⌉, groups).
__kernel void gemm_block(__global const float* A, int aOffset, int aRow, int aCol, int aGroup,
                         __global const float* X, int xOffset,
                         __global float* Y, int yOffset,
                         __global const float* bias, int hasBias,
                         int M, int N, int K, int source,
                         int C, int Cin, int H, int W, int OW, int OHW, int Mtotal,
                         int KH, int KW, int sy, int sx, int dy, int dx, int pt, int pl,
                         int bRow, int bCol, float alpha, float beta, int act, float act0, float act1, int8 out)
{
    const int n0 = get_global_id(0) * 16, m0 = get_global_id(1) * BM, g = get_global_id(2);
    if (n0 >= N || m0 >= M) return;
    float8 acc0[BM], acc1[BM];
    __global const float* a[BM];
    #pragma unroll
    for (int i = 0; i < BM; i++) {
        acc0[i] = (float8)(0.0f);
        acc1[i] = (float8)(0.0f);
        a[i] = A + aOffset + g * aGroup + min(m0 + i, M - 1) * aRow;
    }
    const bool full = n0 + 16 <= N;
    int oy0 = 0, ox0 = 0, xBase0 = 0;
    bool contiguous;
    if (source == FROM_MATRIX) {
        contiguous = full && bCol == 1;
    } else {
        const int b0 = n0 / OHW, p0 = n0 - b0 * OHW;
        oy0 = p0 / OW;
        ox0 = p0 - oy0 * OW;
        xBase0 = xOffset + (b0 * Cin + g * C) * H * W;
        contiguous = full && ox0 + 16 <= OW && sx == 1;
    }
    // Lanes decoded once for the gathered cases (oyL < 0: past the last column).
    int oyL[16], oxL[16], baseL[16];
    if (!contiguous && source != FROM_MATRIX) {
        for (int l = 0; l < 16; l++) {
            int n = n0 + l, b = n / OHW, p = n - b * OHW;
            oyL[l] = n < N ? p / OW : -1;
            oxL[l] = p - (p / OW) * OW;
            baseL[l] = xOffset + (b * Cin + g * C) * H * W;
        }
    }
    int c = 0, ky = 0, kx = 0;
    for (int k = 0; k < K; k++) {
        float8 v0, v1;
        float t[16];
        if (source == FROM_MATRIX) {
            __global const float* s = X + xOffset + k * bRow + n0 * bCol;
            if (contiguous) {
                v0 = vload8(0, s);
                v1 = vload8(1, s);
            } else {
                for (int l = 0; l < 16; l++) t[l] = n0 + l < N ? s[l * bCol] : 0.0f;
                v0 = vload8(0, t);
                v1 = vload8(1, t);
            }
        } else if (contiguous) {
            const int iy = oy0 * sy - pt + ky * dy, ix = ox0 - pl + kx * dx;
            __global const float* s = X + xBase0 + (c * H + iy) * W + ix;
            if (iy >= 0 && iy < H && ix >= 0 && ix + 16 <= W) {
                v0 = vload8(0, s);
                v1 = vload8(1, s);
            } else {
                // One input row for all lanes: only columns past an edge read 0.
                const bool rowInside = iy >= 0 && iy < H;
                for (int l = 0; l < 16; l++) t[l] = (rowInside && ix + l >= 0 && ix + l < W) ? s[l] : 0.0f;
                v0 = vload8(0, t);
                v1 = vload8(1, t);
            }
        } else {
            for (int l = 0; l < 16; l++) {
                const int iy = oyL[l] * sy - pt + ky * dy, ix = oxL[l] * sx - pl + kx * dx;
                const bool inside = oyL[l] >= 0 && iy >= 0 && iy < H && ix >= 0 && ix < W;
                t[l] = inside ? X[baseL[l] + (c * H + iy) * W + ix] : 0.0f;
            }
            v0 = vload8(0, t);
            v1 = vload8(1, t);
        }
        #pragma unroll
        for (int i = 0; i < BM; i++) {
            float8 w = (float8)(a[i][k * aCol]);
            acc0[i] = fma(w, v0, acc0[i]);
            acc1[i] = fma(w, v1, acc1[i]);
        }
        if (++kx == KW) {
            kx = 0;
            if (++ky == KH) { ky = 0; c++; }
        }
    }
    int yL[16];  // each lane's output offset, decoded once for all rows
    for (int l = 0; l < 16; l++) yL[l] = n0 + l < N ? scatter_offset(n0 + l, OHW, OW, Mtotal, out) : 0;
    #pragma unroll
    for (int i = 0; i < BM; i++) {
        const int m = m0 + i;
        if (m >= M) break;
        const float bv = hasBias ? bias[g * M + m] : 0.0f;
        float r[16];
        vstore8(acc0[i], 0, r);
        vstore8(acc1[i], 1, r);
        for (int l = 0; l < 16; l++) {
            const int n = n0 + l;
            if (n >= N) break;
            const int yi = yOffset + (g * M + m) * out.s0 + yL[l];
            float v = alpha * r[l] + bv;
            if (beta != 0.0f) v += beta * Y[yi];
            Y[yi] = activate(v, act, act0, act1);
        }
    }
}

// Convolution with few output channels per group (depthwise and the like), one output value per
// work-item: the GEMM tiles would be mostly empty. Global size (OH·OW, Mtotal, batch).
__kernel void conv_direct(__global const float* X, __global const float* Wt, __global const float* bias, int hasBias,
                          __global float* Y, int C, int Cin, int H, int W, int OH, int OW, int M, int Mtotal,
                          int KH, int KW, int sy, int sx, int dy, int dx, int pt, int pl,
                          int act, float act0, float act1)
{
    const int p = get_global_id(0);
    if (p >= OH * OW) return;
    const int oc = get_global_id(1), b = get_global_id(2);
    const int oy = p / OW, ox = p - oy * OW;
    const int g = oc / M;
    __global const float* x = X + (b * Cin + g * C) * H * W;
    __global const float* w = Wt + oc * C * KH * KW;
    float acc = 0.0f;
    for (int c = 0; c < C; c++) {
        for (int ky = 0; ky < KH; ky++) {
            int iy = oy * sy - pt + ky * dy;
            if (iy < 0 || iy >= H) continue;
            for (int kx = 0; kx < KW; kx++) {
                int ix = ox * sx - pl + kx * dx;
                if (ix < 0 || ix >= W) continue;
                acc += x[(c * H + iy) * W + ix] * w[(c * KH + ky) * KW + kx];
            }
        }
    }
    if (hasBias) acc += bias[oc];
    Y[(b * Mtotal + oc) * OH * OW + p] = activate(acc, act, act0, act1);
}

// MaxPool / AveragePool over 2-D planes (1-D as H = 1). Global size (OH·OW, planes).
__kernel void pool2d(__global const float* X, __global float* Y, int H, int W, int OH, int OW,
                     int KH, int KW, int sy, int sx, int dy, int dx, int pt, int pl, int pb, int pr,
                     int isMax, int includePad)
{
    const int p = get_global_id(0);
    if (p >= OH * OW) return;
    const int plane = get_global_id(1);
    const int oy = p / OW, ox = p - oy * OW;
    __global const float* x = X + plane * H * W;
    float m = -INFINITY, s = 0.0f;
    int n = 0;
    for (int ky = 0; ky < KH; ky++) {
        int iy = oy * sy - pt + ky * dy;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < KW; kx++) {
            int ix = ox * sx - pl + kx * dx;
            if (ix < 0 || ix >= W) continue;
            float v = x[iy * W + ix];
            m = fmax(m, v);
            s += v;
            n++;
        }
    }
    float result;
    if (isMax) {
        result = m;
    } else {
        int divisor = n;
        if (includePad) {
            // The window clipped to the padded input, as the CPU operator counts it.
            int y0 = oy * sy - pt, x0 = ox * sx - pl;
            int y1 = min(y0 + (KH - 1) * dy + 1, H + pb), x1 = min(x0 + (KW - 1) * dx + 1, W + pr);
            divisor = ((y1 - y0 + dy - 1) / dy) * ((x1 - x0 + dx - 1) / dx);
        }
        result = divisor > 0 ? s / (float)divisor : 0.0f;
    }
    Y[plane * OH * OW + p] = result;
}

// GlobalAveragePool: one work-group of 64 per plane, a tree reduction in local memory.
__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void global_average(__global const float* X, __global float* Y, int size)
{
    __local float partial[64];
    const int lid = get_local_id(0), plane = get_group_id(0);
    __global const float* x = X + plane * size;
    float s = 0.0f;
    for (int i = lid; i < size; i += 64) s += x[i];
    partial[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = 32; width > 0; width >>= 1) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) Y[plane] = partial[0] / (float)size;
}

// Resize of N×C planes with separable taps (1 for nearest, 2 for linear per axis), computed on the host.
// Global size (OW, OH, planes).
__kernel void resize_planes(__global const float* X, __global float* Y, int IH, int IW, int OH, int OW,
                            __global const int* rowIndex, __global const float* rowWeight, int rowTaps,
                            __global const int* colIndex, __global const float* colWeight, int colTaps)
{
    const int x = get_global_id(0), y = get_global_id(1), plane = get_global_id(2);
    if (x >= OW || y >= OH) return;
    __global const float* src = X + plane * IH * IW;
    float sum = 0.0f;
    for (int ty = 0; ty < rowTaps; ty++) {
        float rw = rowWeight[y * rowTaps + ty];
        if (rw == 0.0f) continue;
        __global const float* row = src + rowIndex[y * rowTaps + ty] * IW;
        float acc = 0.0f;
        for (int tx = 0; tx < colTaps; tx++) {
            float cw = colWeight[x * colTaps + tx];
            if (cw != 0.0f) acc += cw * row[colIndex[x * colTaps + tx]];
        }
        sum += rw * acc;
    }
    Y[(plane * OH + y) * OW + x] = sum;
}

__kernel void unary(__global const float* X, __global float* Y, int n, int act, float a, float b)
{
    const int i = get_global_id(0);
    if (i < n) Y[i] = activate(X[i], act, a, b);
}

// 0 add, 1 sub, 2 mul, 3 div, 4 prelu
inline float binary_op(float x, float y, int op) {
    switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    default: return x >= 0.0f ? x : x * y;
    }
}

__kernel void binary_same(__global const float* A, __global const float* B, __global float* Y, int n, int op)
{
    const int i = get_global_id(0);
    if (i < n) Y[i] = binary_op(A[i], B[i], op);
}

// Broadcasting: dims are the output's, aStrides/bStrides the inputs' (0 along broadcast axes).
__kernel void binary_broadcast(__global const float* A, __global const float* B, __global float* Y, int n, int op,
                               int8 dims, int8 aStrides, int8 bStrides)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    int r = i, ai = 0, bi = 0;
    #define AB(s) { int c = r % dims.s; r /= dims.s; ai += c * aStrides.s; bi += c * bStrides.s; }
    AB(s5) AB(s4) AB(s3) AB(s2) AB(s1) AB(s0)
    Y[i] = binary_op(A[ai], B[bi], op);
}

// Y[i] = X[offset + Σ coordinate·stride]: Transpose, Slice (negative steps too) and broadcasting copies.
__kernel void gather_strided(__global const float* X, __global float* Y, int n, int base, int8 dims, int8 strides)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    int r = i, offset = base;
    OFFSET6
    Y[i] = X[offset];
}

// Y[i] = X[index[i]], or `fill` where the index is negative (Slice, Split, Gather and Pad by index maps).
__kernel void gather_indexed(__global const float* X, __global float* Y, __global const int* index, int n, float fill)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int s = index[i];
    Y[i] = s < 0 ? fill : X[s];
}

// rows × length block copy between row-strided layouts (Concat, Split). Global size (length, rows).
__kernel void copy_rows(__global const float* X, int xOffset, int xStride,
                        __global float* Y, int yOffset, int yStride, int length, int rows)
{
    const int j = get_global_id(0), row = get_global_id(1);
    if (j < length && row < rows) Y[yOffset + row * yStride + j] = X[xOffset + row * xStride + j];
}

// Pad: 0 constant, 1 edge, 2 reflect (the host checks that reflected axes have 2 or more values).
__kernel void pad(__global const float* X, __global float* Y, int n, int mode, float value,
                  int8 outDims, int8 inDims, int8 before)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    int r = i, offset = 0, stride = 1;
    #define PAD_AXIS(s) { \
        int c = r % outDims.s - before.s; r /= outDims.s; int len = inDims.s; \
        if (c < 0 || c >= len) { \
            if (mode == 0) { Y[i] = value; return; } \
            if (mode == 1) { c = clamp(c, 0, len - 1); } \
            else { int period = 2 * (len - 1); c = ((c % period) + period) % period; if (c >= len) c = period - c; } \
        } \
        offset += c * stride; stride *= len; }
    PAD_AXIS(s5) PAD_AXIS(s4) PAD_AXIS(s3) PAD_AXIS(s2) PAD_AXIS(s1) PAD_AXIS(s0)
    Y[i] = X[offset];
}

// Softmax over `length` values `inner` apart; one work-item per (outer, inner) position.
__kernel void softmax(__global const float* X, __global float* Y, int length, int inner, int positions)
{
    const int pos = get_global_id(0);
    if (pos >= positions) return;
    const int base = (pos / inner) * length * inner + pos % inner;
    float m = -INFINITY;
    for (int j = 0; j < length; j++) m = fmax(m, X[base + j * inner]);
    float sum = 0.0f;
    for (int j = 0; j < length; j++) {
        float e = exp(X[base + j * inner] - m);
        Y[base + j * inner] = e;
        sum += e;
    }
    for (int j = 0; j < length; j++) Y[base + j * inner] /= sum;
}

// Per-channel y = x·scale[c] + shift[c] (BatchNormalization in inference mode).
__kernel void channel_affine(__global const float* X, __global float* Y, __global const float* scale,
                             __global const float* shift, int n, int channels, int inner)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int c = (i / inner) % channels;
    Y[i] = X[i] * scale[c] + shift[c];
}

// ReduceMean: output i starts at the offset its kept coordinates give (dims/strides; reduced axes have
// dim 1) and sums `count` values over the reduced axes (redDims/redStrides).
__kernel void reduce_mean(__global const float* X, __global float* Y, int n, int8 dims, int8 strides,
                          int8 redDims, int8 redStrides, int count)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    int r = i, offset = 0;
    OFFSET6
    const int base = offset;
    float s = 0.0f;
    for (int t = 0; t < count; t++) {
        int q = t, o = base;
        #define RED(s) { int c = q % redDims.s; q /= redDims.s; o += c * redStrides.s; }
        RED(s5) RED(s4) RED(s3) RED(s2) RED(s1) RED(s0)
        s += X[o];
    }
    Y[i] = s / (float)count;
}

// ArgMax along an axis: first maximum, or last with selectLast; indices as 64-bit integers.
__kernel void argmax(__global const float* X, __global long* Y, int length, int inner, int positions, int selectLast)
{
    const int pos = get_global_id(0);
    if (pos >= positions) return;
    const int base = (pos / inner) * length * inner + pos % inner;
    int best = 0;
    float bestValue = X[base];
    for (int j = 1; j < length; j++) {
        float v = X[base + j * inner];
        if (v > bestValue || (selectLast && v == bestValue)) { best = j; bestValue = v; }
    }
    Y[pos] = best;
}
"""#
}
