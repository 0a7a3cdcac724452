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
// In float32 the units that do not fill a vector share one between rows of X when their count divides it
// (cat's 20 units: 16 + 4 lanes for each of 4 rows) instead of padding it (20 of 32 lanes busy). In float64
// the same packing (2 + 4 lanes) was no faster (88 against 90 us for the gradient half of a 1024 x 209 X on
// one thread), so it pads. The last columns of a row, fewer than a vector, go through whole vectors copied
// from the block.
// Contraction into FMA is allowed in this file (CMakeLists.txt): these are matrix products, whose rounding
// differs from OpenBLAS's in the same way as OpenBLAS's own FMA kernels do.
#include <algorithm>
#include <immintrin.h>

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

inline vec<double> splat(double v) { return reinterpret_cast<vec<double>>(_mm512_set1_pd(v)); }
inline vec<float> splat(float v) { return reinterpret_cast<vec<float>>(_mm512_set1_ps(v)); }

// a with lanes [from, lanes) taken from b
inline vec<double> blend_from(vec<double> a, vec<double> b, int from) {
    return reinterpret_cast<vec<double>>(_mm512_mask_blend_pd(static_cast<__mmask8>(0xFFu << from),
                                                              reinterpret_cast<__m512d>(a),
                                                              reinterpret_cast<__m512d>(b)));
}
inline vec<float> blend_from(vec<float> a, vec<float> b, int from) {
    return reinterpret_cast<vec<float>>(_mm512_mask_blend_ps(static_cast<__mmask16>(0xFFFFu << from),
                                                             reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b)));
}

// Z's lanes [0, n) of a vector at the end of a row: the next lanes are the next row's.
inline vec<double> load_first(const double* p, index n) {
    return reinterpret_cast<vec<double>>(_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p));
}
inline vec<float> load_first(const float* p, index n) {
    return reinterpret_cast<vec<float>>(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p));
}
inline void store_first(double* p, vec<double> v, index n) {
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), reinterpret_cast<__m512d>(v));
}
inline void store_first(float* p, vec<float> v, index n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), reinterpret_cast<__m512>(v));
}

// Rows of X per block: the block (kb x m) stays in L2 between the two passes.
constexpr index block_rows = 64;

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

// gradient_tile when n[1] = CF whole vectors + V / G units: the last units of G rows share one vector
// (`packed`), whose dZ^T lanes hold those units' dZ repeated G times (streamed_units_transpose).
template <class T, int KR, int CF, int G>
inline void gradient_tile_packed(const T* x, index ld, const T* dZT, index m, vec<T> acc[KR][CF + 1],
                                 vec<T> packed[KR / G]) {
    constexpr int V = lanes<T>, CV = CF + 1;
    for (int r = 0; r < KR; ++r)
        for (int c = 0; c < CF; ++c) acc[r][c] = vec<T>{};
    for (int p = 0; p < KR / G; ++p) packed[p] = vec<T>{};
    for (index j = 0; j < m; ++j) {
        vec<T> d[CV];
        for (int c = 0; c < CV; ++c) d[c] = load(dZT + j * CV * V + c * V);
        for (int p = 0; p < KR / G; ++p) {
            vec<T> xp = vec<T>{};
            for (int g = 0; g < G; ++g) {
                const int r = p * G + g;
                const vec<T> xb = splat(x[r * ld + j]);
                for (int c = 0; c < CF; ++c) acc[r][c] += d[c] * xb;
                xp = g == 0 ? xb : blend_from(xp, xb, g * (V / G));
            }
            packed[p] += d[CF] * xp;
        }
    }
}

// step_tile for gradient_tile_packed: the whole vectors' units as step_tile steps them, then the packed ones
template <class T, int KR, int CF, int G>
inline void step_tile_packed(const vec<T> acc[KR][CF + 1], const vec<T> packed[KR / G], index k, const T* W,
                             T* W_next, index ldw, T inv_m, T learning_rate) {
    constexpr int V = lanes<T>, REM = V / G;
    step_tile<T, KR, CF + 1>(acc, CF * V, k, W, W_next, ldw, inv_m, learning_rate);
    for (int u = 0; u < REM; ++u) {
        const index i = CF * V + u;
        for (int r = 0; r < KR; ++r)
            W_next[i * ldw + k + r] =
                W[i * ldw + k + r] - learning_rate * (packed[r / G][(r % G) * REM + u] * inv_m);
    }
}

template <class T, int CF, int G>
void gradient_and_step_packed(const T* X, index ld, index m, index k0, index k1, const T* dZT, T learning_rate,
                              const T* W, T* W_next, index ldw) {
    // 16 rows (20 accumulators for cat's 20 units) divide a block. The gradient half of a 1024 x 209 X on one
    // thread took 46.6 us with 16 rows, 45.4 with 20, 64.8, 54.4 and 65.3 with 8, 24 and 28, and 67.9 unpacked.
    constexpr int KR = 16;
    const T inv_m = T(1) / static_cast<T>(m);
    index k = k0;
    for (; k + KR <= k1; k += KR) {
        vec<T> acc[KR][CF + 1], packed[KR / G];
        gradient_tile_packed<T, KR, CF, G>(X + k * ld, ld, dZT, m, acc, packed);
        step_tile_packed<T, KR, CF, G>(acc, packed, k, W, W_next, ldw, inv_m, learning_rate);
    }
    for (; k + G <= k1; k += G) {
        vec<T> acc[G][CF + 1], packed[1];
        gradient_tile_packed<T, G, CF, G>(X + k * ld, ld, dZT, m, acc, packed);
        step_tile_packed<T, G, CF, G>(acc, packed, k, W, W_next, ldw, inv_m, learning_rate);
    }
    // rows too few to share a vector: the ordinary tile, which computes on the lanes past n1 but never stores them
    for (; k < k1; ++k) {
        vec<T> acc[1][CF + 1];
        gradient_tile<T, 1, CF + 1>(X + k * ld, ld, dZT, m, acc);
        step_tile<T, 1, CF + 1>(acc, CF * lanes<T> + lanes<T> / G, k, W, W_next, ldw, inv_m, learning_rate);
    }
}

// Z[i][j..j+JV vectors) += sum_k W_next[i][k] X[k][j..] for IR units and the kb rows of a block. With
// `partial`, the last vector holds `last` < V columns, and its values of X come from xl (kb x V, zero-padded).
template <class T, int IR, int JV, bool partial>
inline void forward_tile(const T* w, index ldw, const T* x, index ld, index kb, T* z, index m, index last,
                         const T* xl) {
    constexpr int V = lanes<T>, J = JV - 1;
    vec<T> acc[IR][JV];
    for (int i = 0; i < IR; ++i) {
        for (int c = 0; c < J; ++c) acc[i][c] = load(z + i * m + c * V);
        acc[i][J] = partial ? load_first(z + i * m + J * V, last) : load(z + i * m + J * V);
    }
    for (index k = 0; k < kb; ++k) {
        vec<T> xv[JV];
        for (int c = 0; c < J; ++c) xv[c] = load(x + k * ld + c * V);
        xv[J] = partial ? load(xl + k * V) : load(x + k * ld + J * V);
        for (int i = 0; i < IR; ++i) {
            const T wk = w[i * ldw + k];
            for (int c = 0; c < JV; ++c) acc[i][c] += xv[c] * wk;
        }
    }
    for (int i = 0; i < IR; ++i) {
        for (int c = 0; c < J; ++c) store(z + i * m + c * V, acc[i][c]);
        if constexpr (partial)
            store_first(z + i * m + J * V, acc[i][J], last);
        else
            store(z + i * m + J * V, acc[i][J]);
    }
}

template <class T, int JV, bool partial>
inline void forward_units(const T* w, index ldw, const T* x, index ld, index kb, T* z, index m, index n1,
                          index last, const T* xl) {
    index i = 0;
    for (; i + 4 <= n1; i += 4) forward_tile<T, 4, JV, partial>(w + i * ldw, ldw, x, ld, kb, z + i * m, m, last, xl);
    switch (n1 - i) {
        case 3: forward_tile<T, 3, JV, partial>(w + i * ldw, ldw, x, ld, kb, z + i * m, m, last, xl); break;
        case 2: forward_tile<T, 2, JV, partial>(w + i * ldw, ldw, x, ld, kb, z + i * m, m, last, xl); break;
        case 1: forward_tile<T, 1, JV, partial>(w + i * ldw, ldw, x, ld, kb, z + i * m, m, last, xl); break;
        default: break;
    }
}

// A tile of JV vectors of columns for every unit; its last vector holds `last` columns.
template <class T, int JV>
inline void forward_columns(const T* w, index ldw, const T* x, index ld, index kb, T* z, index m, index n1,
                            index last) {
    constexpr int V = lanes<T>;
    if (last == V) return forward_units<T, JV, false>(w, ldw, x, ld, kb, z, m, n1, last, nullptr);
    // The block's last columns copied into whole vectors: a masked load in the loop took 99 against 78 us for
    // the forward half of a 1024 x 209 block in float64 (the copy: 64 x 8 values).
    alignas(64) T xl[block_rows * V];
    const T* xs = x + (JV - 1) * V;
    for (index k = 0; k < kb; ++k)
        for (index q = 0; q < V; ++q) xl[k * V + q] = q < last ? xs[k * ld + q] : T(0);
    forward_units<T, JV, true>(w, ldw, x, ld, kb, z, m, n1, last, xl);
}

// Tiles of 6 vectors of columns, then one tile for the rest of the row (fewer than 6 vectors, the last perhaps
// partial): one tile of the rest instead of one per vector and a scalar loop for the last m % V columns, which
// took 15% of the forward half at m = 209.
template <class T>
void forward_block(const T* w, index ldw, const T* x, index ld, index kb, T* Z, index m, index n1) {
    constexpr int V = lanes<T>;
    index j = 0;
    for (; j + 6 * V <= m; j += 6 * V) forward_columns<T, 6>(w, ldw, x + j, ld, kb, Z + j, m, n1, V);
    if (j == m) return;
    const index rest = m - j, last = rest - (rest - 1) / V * V;
    switch ((rest + V - 1) / V) {
        case 1: forward_columns<T, 1>(w, ldw, x + j, ld, kb, Z + j, m, n1, last); break;
        case 2: forward_columns<T, 2>(w, ldw, x + j, ld, kb, Z + j, m, n1, last); break;
        case 3: forward_columns<T, 3>(w, ldw, x + j, ld, kb, Z + j, m, n1, last); break;
        case 4: forward_columns<T, 4>(w, ldw, x + j, ld, kb, Z + j, m, n1, last); break;
        case 5: forward_columns<T, 5>(w, ldw, x + j, ld, kb, Z + j, m, n1, last); break;
        default: forward_columns<T, 6>(w, ldw, x + j, ld, kb, Z + j, m, n1, last); break;
    }
}

}  // namespace

template <class T>
void streamed_rows_units(const T* X, index ld, index m, index r0, index r1, const T* dZT, index n1,
                         T learning_rate, const T* W, T* W_next, index ldw, T* Z_part) {
    constexpr int V = lanes<T>;
    const int CV = static_cast<int>((n1 + V - 1) / V);
    std::fill(Z_part, Z_part + n1 * m, T(0));
    // float32's units past one vector (17 to 31), when a whole number of rows' worth of them fills one
    const index rem = n1 - V;
    const int G = sizeof(T) == 4 && rem > 0 && rem < V && V % rem == 0 ? static_cast<int>(V / rem) : 0;
    for (index k0 = r0; k0 < r1; k0 += block_rows) {
        const index k1 = std::min(r1, k0 + block_rows);
        if (G > 0) {
            switch (G) {
                case 2: gradient_and_step_packed<T, 1, 2>(X, ld, m, k0, k1, dZT, learning_rate, W, W_next, ldw); break;
                case 4: gradient_and_step_packed<T, 1, 4>(X, ld, m, k0, k1, dZT, learning_rate, W, W_next, ldw); break;
                case 8: gradient_and_step_packed<T, 1, 8>(X, ld, m, k0, k1, dZT, learning_rate, W, W_next, ldw); break;
                default: gradient_and_step_packed<T, 1, 16>(X, ld, m, k0, k1, dZT, learning_rate, W, W_next, ldw); break;
            }
        } else switch (CV) {
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
template <class T>
void streamed_units_transpose(const T* dZ, index n1, index m, T* dZT) {
    constexpr index V = 64 / static_cast<index>(sizeof(T));
    const index n1p = streamed_units_padding<T>(n1), whole = n1 / V * V, rem = n1 - whole;
    for (index i = 0; i < n1p; ++i) {
        const index unit = i < whole ? i : whole + (i - whole) % rem;
        for (index j = 0; j < m; ++j) dZT[j * n1p + i] = dZ[unit * m + j];
    }
}

template void streamed_units_transpose<double>(const double*, index, index, double*);
template void streamed_units_transpose<float>(const float*, index, index, float*);
template index streamed_units_padding<double>(index);
template index streamed_units_padding<float>(index);

}  // namespace nn
