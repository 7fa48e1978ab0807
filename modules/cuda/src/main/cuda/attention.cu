// Small kernels around the cuBLAS GEMMs of ringattn's CUDA block kernel (CublasKernel.java).
// Compiled to PTX by build-ptx.sh; the PTX is committed as a resource and loaded with
// cuModuleLoadData, so users compile nothing. Every entry point is extern "C" (unmangled names)
// and is looked up by name in CublasKernel: keep the names and parameter lists in step.
//
// Semantics follow ringattn.engine.kernel.ScalarKernel: scores are already scaled (the QK^T GEMM
// uses alpha = scale); rowMax/rowSum are [heads, rows] in natural-log units of scaled scores; acc is
// the unnormalised fp32 output. Masks are by global position (causal, sliding window, documents).

#define RA_THREADS 256

// BF16 (stored as 16-bit patterns) to fp32: exact.
extern "C" __global__ void ra_bf16_to_f32(const unsigned short* __restrict__ in, float* __restrict__ out,
                                          long long n) {
    long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        out[i] = __uint_as_float(((unsigned int) in[i]) << 16);
    }
}

// Swaps the first two axes of a [a, b, inner] array of 4-byte elements into [b, a, inner].
extern "C" __global__ void ra_swap01_b32(const unsigned int* __restrict__ in, unsigned int* __restrict__ out,
                                         int a, int b, int inner) {
    long long n = (long long) a * b * inner;
    long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int c = (int) (i % inner);
        long long t = i / inner;
        int y = (int) (t % b);
        int x = (int) (t / b);
        out[((long long) y * a + x) * inner + c] = in[i];
    }
}

// The same for 2-byte elements (BF16 queries).
extern "C" __global__ void ra_swap01_b16(const unsigned short* __restrict__ in, unsigned short* __restrict__ out,
                                         int a, int b, int inner) {
    long long n = (long long) a * b * inner;
    long long stride = (long long) gridDim.x * blockDim.x;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int c = (int) (i % inner);
        long long t = i / inner;
        int y = (int) (t % b);
        int x = (int) (t / b);
        out[((long long) y * a + x) * inner + c] = in[i];
    }
}

__device__ __forceinline__ bool ra_visible(int i, int iDoc, int j, int jDoc, int causal, int window) {
    if (iDoc != jDoc) {
        return false;
    }
    if (causal) {
        return j <= i && (window == 0 || (long long) j > (long long) i - window);
    }
    return window == 0 || llabs((long long) i - (long long) j) < (long long) window;
}

__device__ __forceinline__ float ra_block_max(float v, float* shared) {
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    if (lane == 0) {
        shared[warp] = v;
    }
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < warps ? shared[threadIdx.x] : -INFINITY;
    if (warp == 0) {
        for (int o = 16; o > 0; o >>= 1) {
            v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        }
        if (lane == 0) {
            shared[0] = v;
        }
    }
    __syncthreads();
    v = shared[0];
    __syncthreads();
    return v;
}

__device__ __forceinline__ float ra_block_sum(float v, float* shared) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    if (lane == 0) {
        shared[warp] = v;
    }
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = threadIdx.x < warps ? shared[threadIdx.x] : 0.0f;
    if (warp == 0) {
        for (int o = 16; o > 0; o >>= 1) {
            v += __shfl_xor_sync(0xffffffffu, v, o);
        }
        if (lane == 0) {
            shared[0] = v;
        }
    }
    __syncthreads();
    v = shared[0];
    __syncthreads();
    return v;
}

// One CUDA block per score row of one query chunk. The scores S of the chunk are laid out
// [kvHeads, chunkRows * group, kvc] (row-major, kvc keys per row); row b of the grid is
// (g, rr, j) = (b / (chunkRows*group), (b % (chunkRows*group)) / group, b % group): kv head g,
// chunk row rr (global row r = r0 + rr), query head h = g*group + j. qPos/qDoc are indexed by global
// row, kPos/kDoc by the chunk's key column; rowMax/rowSum are [heads, rows].
// The kernel masks the row by global positions, folds its maximum into rowMax, replaces the
// scores with p = exp(s - mNew) (0 where masked), adds their sum to rowSum*alpha and multiplies the
// accumulator row by alpha = exp(mOld - mNew), so that the following GEMM acc += P V (beta = 1)
// completes the update. acc holds rows accRow0 .. accRow0+accRows-1, laid out
// [kvHeads, accRows, group, headDim]. A row that sees no key in the tile is
// left unchanged (its P row is zeroed).
extern "C" __global__ void __launch_bounds__(RA_THREADS)
ra_online_softmax(float* __restrict__ scores, int kvc, int chunkRows, int group, int r0, int rows,
                  const int* __restrict__ qPos, const int* __restrict__ qDoc,
                  const int* __restrict__ kPos, const int* __restrict__ kDoc,
                  int masked, int causal, int window,
                  float* __restrict__ rowMax, float* __restrict__ rowSum,
                  float* __restrict__ acc, int accRow0, int accRows, int headDim) {
    __shared__ float shared[32];
    int b = blockIdx.x;
    int perG = chunkRows * group;
    int g = b / perG;
    int t = b % perG;
    int r = r0 + t / group;
    int j = t % group;
    int h = g * group + j;
    float* s = scores + (long long) b * kvc;
    int qi = qPos[r];
    int qd = qDoc[r];

    float mx = -INFINITY;
    for (int c = threadIdx.x; c < kvc; c += blockDim.x) {
        float v = s[c];
        if (masked && !ra_visible(qi, qd, kPos[c], kDoc[c], causal, window)) {
            v = -INFINITY;
            s[c] = v;
        }
        mx = fmaxf(mx, v);
    }
    mx = ra_block_max(mx, shared);
    if (mx == -INFINITY) {
        for (int c = threadIdx.x; c < kvc; c += blockDim.x) {
            s[c] = 0.0f;
        }
        return;
    }
    long long sIdx = (long long) h * rows + r;
    float mOld = rowMax[sIdx];
    float mNew = fmaxf(mOld, mx);
    float alpha = mOld == -INFINITY ? 0.0f : expf(mOld - mNew);
    float sum = 0.0f;
    for (int c = threadIdx.x; c < kvc; c += blockDim.x) {
        float v = s[c];
        float p = v == -INFINITY ? 0.0f : expf(v - mNew);
        s[c] = p;
        sum += p;
    }
    sum = ra_block_sum(sum, shared);
    if (threadIdx.x == 0) {
        rowMax[sIdx] = mNew;
        rowSum[sIdx] = rowSum[sIdx] * alpha + sum;
    }
    float* o = acc + (((long long) g * accRows + (r - accRow0)) * group + j) * headDim;
    for (int c = threadIdx.x; c < headDim; c += blockDim.x) {
        o[c] *= alpha;
    }
}

// Backward scores of one chunk, one CUDA block per score row (the same row numbering as
// ra_online_softmax). On entry scores holds S = scale·QKᵀ and dp holds dP = dO·Vᵀ; on exit scores
// holds P = exp(S − lse) and dp holds dS = P·(dP − delta)·scale, both 0 where the key is masked or
// the row saw no key (lse = −∞). lse and delta are [heads, rows].
extern "C" __global__ void __launch_bounds__(RA_THREADS)
ra_backward_scores(float* __restrict__ scores, float* __restrict__ dp, int kvc, int chunkRows, int group,
                   int r0, int rows,
                   const int* __restrict__ qPos, const int* __restrict__ qDoc,
                   const int* __restrict__ kPos, const int* __restrict__ kDoc,
                   int masked, int causal, int window,
                   const float* __restrict__ lse, const float* __restrict__ delta, float scale) {
    int b = blockIdx.x;
    int perG = chunkRows * group;
    int g = b / perG;
    int t = b % perG;
    int r = r0 + t / group;
    int j = t % group;
    int h = g * group + j;
    long long row = (long long) b * kvc;
    float l = lse[(long long) h * rows + r];
    float dl = delta[(long long) h * rows + r];
    int qi = qPos[r];
    int qd = qDoc[r];
    for (int c = threadIdx.x; c < kvc; c += blockDim.x) {
        float p = 0.0f;
        float ds = 0.0f;
        if (l != -INFINITY && (!masked || ra_visible(qi, qd, kPos[c], kDoc[c], causal, window))) {
            p = expf(scores[row + c] - l);
            ds = p * (dp[row + c] - dl) * scale;
        }
        scores[row + c] = p;
        dp[row + c] = ds;
    }
}
