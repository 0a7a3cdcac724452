// Kernel of streamed_first_layer.hpp for a first layer of a few units (2 <= n[1] <= streamed_max_units).
//
// Per block of rows of X (kb rows, in L2 after the first of the two passes that read it):
//   1. dW[:, block] as dZ X_block^T, taken as (X_block dZ^T): each element of X is broadcast against a row of
//      dZ^T (all n[1] units in one or a few vectors), so no horizontal sums are needed (the dot-product form,
//      with them, measured 12% slower in float64); then the step,
//      W_next[:, block] = W[:, block] - learning_rate dW[:, block];
//   2. Z_part += W_next[:, block] X_block: rows of W_next broadcast against vectors of a row of X.
// Both are register-tiled products on 64-byte vectors, so the kernel is compiled for AVX-512 only and
// streamed_units_supported() says whether this CPU runs it (elsewhere the first layer is not streamed).
// Contraction into FMA is allowed in this file (CMakeLists.txt): these are matrix products, whose rounding
// differs from OpenBLAS's in the same way as OpenBLAS's own FMA kernels do.
#include <algorithm>

#include "nn/streamed_first_layer.hpp"

#include "cpu.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_STREAMED_UNITS 1
#endif

namespace nn {

#ifdef NN_STREAMED_UNITS

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,fma,avx2")

namespace {

// 64-byte vectors, loaded and stored unaligned (rows of X start anywhere)
template <class T>
struct vector_of;
template <>
struct vector_of<double> {
    typedef double type __attribute__((vector_size(64), aligned(8), may_alias));
};
template <>
struct vector_of<float> {
    typedef float type __attribute__((vector_size(64), aligned(4), may_alias));
};
template <class T>
using vec = typename vector_of<T>::type;

template <class T>
constexpr int lanes = 64 / static_cast<int>(sizeof(T));

template <class T>
inline vec<T> load(const T* p) {
    return *reinterpret_cast<const vec<T>*>(p);
}
template <class T>
inline void store(T* p, vec<T> v) {
    *reinterpret_cast<vec<T>*>(p) = v;
}

// acc[r][c] = sum_j x[r][j] dZT[j][c-th vector]: dW^T for KR rows of X, all units (padded to CV vectors).
template <class T, int KR, int CV>
inline void gradient_tile(const T* x, index ld, const T* dZT, index m, vec<T> acc[KR][CV]) {
    constexpr int V = lanes<T>;
    for (int r = 0; r < KR; ++r)
        for (int c = 0; c < CV; ++c) acc[r][c] = vec<T>{};
    for (index j = 0; j < m; ++j) {
        vec<T> d[CV];
        for (int c = 0; c < CV; ++c) d[c] = load(dZT + j * CV * V + c * V);
        for (int r = 0; r < KR; ++r) {
            const T xv = x[r * ld + j];
            for (int c = 0; c < CV; ++c) acc[r][c] += d[c] * xv;
        }
    }
}

// W_next[i][k] = W[i][k] - learning_rate (dW^T[k][i] / m) for the KR rows k of a tile.
template <class T, int KR, int CV>
inline void step_tile(const vec<T> acc[KR][CV], index n1, index k, const T* W, T* W_next, index ldw, T inv_m,
                      T learning_rate) {
    constexpr int V = lanes<T>;
    for (int c = 0; c < CV; ++c)
        for (int q = 0; q < V && c * V + q < n1; ++q) {
            const index i = c * V + q;
            for (int r = 0; r < KR; ++r)
                W_next[i * ldw + k + r] = W[i * ldw + k + r] - learning_rate * (acc[r][c][q] * inv_m);
        }
}

template <class T, int CV>
void gradient_and_step(const T* X, index ld, index m, index k0, index k1, const T* dZT, index n1, T learning_rate,
                       const T* W, T* W_next, index ldw) {
    // about 24 accumulators: KR rows of X x CV vectors of units
    constexpr int KR = CV == 1 ? 16 : CV == 2 ? 12 : CV == 3 ? 8 : 6;
    const T inv_m = T(1) / static_cast<T>(m);
    index k = k0;
    for (; k + KR <= k1; k += KR) {
        vec<T> acc[KR][CV];
        gradient_tile<T, KR, CV>(X + k * ld, ld, dZT, m, acc);
        step_tile<T, KR, CV>(acc, n1, k, W, W_next, ldw, inv_m, learning_rate);
    }
    for (; k < k1; ++k) {
        vec<T> acc[1][CV];
        gradient_tile<T, 1, CV>(X + k * ld, ld, dZT, m, acc);
        step_tile<T, 1, CV>(acc, n1, k, W, W_next, ldw, inv_m, learning_rate);
    }
}

// Z[i][j..j+JV vectors) += sum_k W_next[i][k] X[k][j..] for IR units and the kb rows of a block.
template <class T, int IR, int JV>
inline void forward_tile(const T* w, index ldw, const T* x, index ld, index kb, T* z, index m) {
    constexpr int V = lanes<T>;
    vec<T> acc[IR][JV];
    for (int i = 0; i < IR; ++i)
        for (int c = 0; c < JV; ++c) acc[i][c] = load(z + i * m + c * V);
    for (index k = 0; k < kb; ++k) {
        vec<T> xv[JV];
        for (int c = 0; c < JV; ++c) xv[c] = load(x + k * ld + c * V);
        for (int i = 0; i < IR; ++i) {
            const T wk = w[i * ldw + k];
            for (int c = 0; c < JV; ++c) acc[i][c] += xv[c] * wk;
        }
    }
    for (int i = 0; i < IR; ++i)
        for (int c = 0; c < JV; ++c) store(z + i * m + c * V, acc[i][c]);
}

template <class T, int JV>
inline void forward_column_tile(const T* w, index ldw, const T* x, index ld, index kb, T* z, index m, index n1) {
    index i = 0;
    for (; i + 4 <= n1; i += 4) forward_tile<T, 4, JV>(w + i * ldw, ldw, x, ld, kb, z + i * m, m);
    for (; i < n1; ++i) forward_tile<T, 1, JV>(w + i * ldw, ldw, x, ld, kb, z + i * m, m);
}

template <class T>
void forward_block(const T* w, index ldw, const T* x, index ld, index kb, T* Z, index m, index n1) {
    constexpr int V = lanes<T>;
    index j = 0;
    for (; j + 6 * V <= m; j += 6 * V) forward_column_tile<T, 6>(w, ldw, x + j, ld, kb, Z + j, m, n1);
    for (; j + V <= m; j += V) forward_column_tile<T, 1>(w, ldw, x + j, ld, kb, Z + j, m, n1);
    for (; j < m; ++j)  // the last m % V columns
        for (index i = 0; i < n1; ++i) {
            T s = Z[i * m + j];
            for (index k = 0; k < kb; ++k) s += w[i * ldw + k] * x[k * ld + j];
            Z[i * m + j] = s;
        }
}

// Rows of X per block: the block (kb x m) stays in L2 between the two passes.
constexpr index block_rows = 64;

}  // namespace

template <class T>
void streamed_rows_units(const T* X, index ld, index m, index r0, index r1, const T* dZT, index n1,
                         T learning_rate, const T* W, T* W_next, index ldw, T* Z_part) {
    constexpr int V = lanes<T>;
    const int CV = static_cast<int>((n1 + V - 1) / V);
    std::fill(Z_part, Z_part + n1 * m, T(0));
    for (index k0 = r0; k0 < r1; k0 += block_rows) {
        const index k1 = std::min(r1, k0 + block_rows);
        switch (CV) {
            case 1: gradient_and_step<T, 1>(X, ld, m, k0, k1, dZT, n1, learning_rate, W, W_next, ldw); break;
            case 2: gradient_and_step<T, 2>(X, ld, m, k0, k1, dZT, n1, learning_rate, W, W_next, ldw); break;
            case 3: gradient_and_step<T, 3>(X, ld, m, k0, k1, dZT, n1, learning_rate, W, W_next, ldw); break;
            default: gradient_and_step<T, 4>(X, ld, m, k0, k1, dZT, n1, learning_rate, W, W_next, ldw); break;
        }
        forward_block<T>(W_next + k0, ldw, X + k0 * ld, ld, k1 - k0, Z_part, m, n1);
    }
}

#pragma GCC pop_options

#else

// Never called: streamable() streams several units only where streamed_units_supported() is true.
template <class T>
void streamed_rows_units(const T*, index, index, index, index, const T*, index, T, const T*, T*, index, T*) {}

#endif

// False where the kernel above is not compiled (cpu_has_avx512 is false off x86-64 GCC).
bool streamed_units_supported() { return cpu_has_avx512(); }

template <class T>
index streamed_units_padding(index n1) {
    constexpr index V = 64 / static_cast<index>(sizeof(T));
    return (n1 + V - 1) / V * V;
}

template void streamed_rows_units<double>(const double*, index, index, index, index, const double*, index, double,
                                          const double*, double*, index, double*);
template void streamed_rows_units<float>(const float*, index, index, index, index, const float*, index, float,
                                         const float*, float*, index, float*);
template index streamed_units_padding<double>(index);
template index streamed_units_padding<float>(index);

}  // namespace nn
