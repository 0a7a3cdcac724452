// Kernel of narrow_layer.hpp.
#include "nn/narrow_layer.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "cpu.hpp"
#include "vector_math.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_NARROW_LAYERS 1
#include <immintrin.h>
#endif

namespace nn {
namespace {

#ifdef NN_NARROW_LAYERS

// Compiled for AVX-512 only, the one target it runs on (narrow_layers_supported): clones for the others
// would be dead code that tripled this file's compile time.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,fma,avx2")

// a b + c rounded once, on scalars and on 64-byte vectors. This file is compiled without FMA contraction, as the
// elementwise kernels are, so that the bias and the activation round exactly as on the general path; the
// products ask for their FMAs here, as the short products get them from contraction.
template <class T>
[[gnu::always_inline]] inline T mul_add(T a, T b, T c) { return std::fma(a, b, c); }

typedef double vec_d __attribute__((vector_size(64)));
typedef float vec_f __attribute__((vector_size(64)));
[[gnu::always_inline]] inline void mul_add_to(vec_d& acc, const vec_d& a, const vec_d& b) {
    acc = (vec_d)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)acc);
}
[[gnu::always_inline]] inline void mul_add_to(vec_f& acc, const vec_f& a, const vec_f& b) {
    acc = (vec_f)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)acc);
}
template <class T>
[[gnu::always_inline]] inline void mul_add_to(T& acc, const T& a, const T& b) { acc = std::fma(a, b, acc); }

// Row i of A = g(W A_prev + b) for K = n_prev known at compile time: the loop vectorises along the row with each
// element's K products in registers (gemm_short_k's short_row), then adds the bias and applies g (rows_map).
template <int K, class T, class G>
[[gnu::always_inline]] inline void forward_row(const T* w, T bi, const T* A_prev, index ld_A, index m, T* a, G g) {
#pragma omp simd
    for (index j = 0; j < m; ++j) {
        T s = w[0] * A_prev[j];
        for (int k = 1; k < K; ++k) s = mul_add(w[k], A_prev[k * ld_A + j], s);
        a[j] = g(s + bi);
    }
}

template <int K, class T>
[[gnu::always_inline]] inline void forward_rows(const T* W, const T* b, index n, const T* A_prev, index ld_A,
                                                index m, Activation g, T* A) {
    for (index i = 0; i < n; ++i) {
        const T* w = W + i * K;
        T* a = A + i * m;
        switch (g) {
            case Activation::sigmoid: forward_row<K>(w, b[i], A_prev, ld_A, m, a, [](T z) { return vm::sigmoid(z); }); break;
            case Activation::tanh: forward_row<K>(w, b[i], A_prev, ld_A, m, a, [](T z) { return vm::tanh(z); }); break;
            case Activation::relu: forward_row<K>(w, b[i], A_prev, ld_A, m, a, [](T z) { return vm::relu(z); }); break;
            case Activation::leaky_relu:
                forward_row<K>(w, b[i], A_prev, ld_A, m, a, [](T z) { return vm::leaky_relu(z); });
                break;
            case Activation::linear: forward_row<K>(w, b[i], A_prev, ld_A, m, a, [](T z) { return z; }); break;
        }
    }
}

template <class T, int... Ks>
[[gnu::always_inline]] inline void forward_for(const T* W, const T* b, index n, index n_prev, const T* A_prev,
                                               index ld_A, index m, Activation g, T* A,
                                               std::integer_sequence<int, Ks...>) {
    ((n_prev == Ks + 1 ? forward_rows<Ks + 1>(W, b, n, A_prev, ld_A, m, g, A) : void()), ...);
}

template <class T>
void narrow_forward_avx512(const T* W, const T* b, index n, index n_prev, const T* A_prev, index ld_A, index m,
                           Activation g, T* A) {
    forward_for<T>(W, b, n, n_prev, A_prev, ld_A, m, g, A, std::make_integer_sequence<int, narrow_max_units>{});
}

// dA g'(A) from A = g(Z), over dA, with the formulas of activation_backward_from_output, on a 64-byte vector or
// a scalar (the columns past the last whole vector). By reference: a function that takes or returns a 64-byte
// vector by value has another ABI in the baseline clone, and GCC says so for each.
template <class T, class V>
[[gnu::always_inline]] inline void times_derivative(Activation g, V& da, const V& a) {
    switch (g) {
        case Activation::sigmoid: da = da * (a * (T(1) - a)); break;
        case Activation::tanh: da = da * (T(1) - a * a); break;
        case Activation::relu: da = a > V{} ? da : V{}; break;
        case Activation::leaky_relu: da = a > V{} ? da : da * T(leaky_relu_slope); break;
        case Activation::linear: break;
    }
}

// One column, or one vector of columns, j: its dZ and A_prev values loaded once for every sum they enter, and
// dZ_prev's values stored. Unrolled, so that the sums stay in registers.
template <int N, int NP, class T, class V>
[[gnu::always_inline]] inline void column_step(const T (&W)[N][NP], const T* dZ, index ld_dZ, const T* A,
                                               index ld_A, index j, Activation g, T* dZ_prev, V (&dW)[N][NP],
                                               V (&db)[N]) {
    V dz[N], a[NP];
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) std::memcpy(&dz[i], dZ + i * ld_dZ + j, sizeof(V));
#pragma GCC unroll 8
    for (int k = 0; k < NP; ++k) std::memcpy(&a[k], A + k * ld_A + j, sizeof(V));
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) {
        db[i] += dz[i];
#pragma GCC unroll 8
        for (int k = 0; k < NP; ++k) mul_add_to(dW[i][k], dz[i], a[k]);
    }
    if (!dZ_prev) return;
#pragma GCC unroll 8
    for (int k = 0; k < NP; ++k) {
        V da = W[0][k] * dz[0];
#pragma GCC unroll 8
        for (int i = 1; i < N; ++i) mul_add_to(da, dz[i], W[i][k] - V{});  // (x - 0 is x, -0 included: a broadcast)
        times_derivative<T>(g, da, a[k]);
        std::memcpy(dZ_prev + k * ld_A + j, &da, sizeof(V));
    }
}

template <int N, int NP, class T>
[[gnu::always_inline]] inline void narrow_layer(const T* W_, const T* dZ, index ld_dZ, const T* A, index ld_A,
                                                index m, T scale, T* dW_out, T* db_out, Activation g,
                                                T* dZ_prev) {
    typedef T vec __attribute__((vector_size(64)));
    constexpr index w = 64 / sizeof(T);
    T W[N][NP];
    for (int i = 0; i < N; ++i)
        for (int k = 0; k < NP; ++k) W[i][k] = W_[i * NP + k];
    vec dW_v[N][NP] = {}, db_v[N] = {};
    index j = 0;
    for (; j + w <= m; j += w) column_step<N, NP, T, vec>(W, dZ, ld_dZ, A, ld_A, j, g, dZ_prev, dW_v, db_v);
    T dW[N][NP], db[N];
    for (int i = 0; i < N; ++i) {
        db[i] = vm::lane_sum<T, 64>(db_v[i]);
        for (int k = 0; k < NP; ++k) dW[i][k] = vm::lane_sum<T, 64>(dW_v[i][k]);
    }
    for (; j < m; ++j) column_step<N, NP, T, T>(W, dZ, ld_dZ, A, ld_A, j, g, dZ_prev, dW, db);
    for (int i = 0; i < N; ++i) {
        db_out[i] = db[i] * scale;
        for (int k = 0; k < NP; ++k) dW_out[i * NP + k] = dW[i][k] * scale;
    }
}

// narrow_layer for N = S / 8 + 1 units over NP = S % 8 + 1 inputs, if those are the layer's sizes and have an
// instance. A function, not a lambda: GCC outlines a lambda for baseline x86-64, as any helper it does not inline.
template <int S, class T>
[[gnu::always_inline]] inline bool narrow_shape(index n, index n_prev, const T* W, const T* dZ, index ld_dZ,
                                                const T* A, index ld_A, index m, T scale, T* dW, T* db,
                                                Activation g, T* dZ_prev) {
    constexpr int N = S / 8 + 1, NP = S % 8 + 1;
    if constexpr (N * NP <= narrow_max_weights) {
        if (n == N && n_prev == NP) {
            narrow_layer<N, NP>(W, dZ, ld_dZ, A, ld_A, m, scale, dW, db, g, dZ_prev);
            return true;
        }
    }
    return false;
}

template <class T, int... Ss>
[[gnu::always_inline]] inline bool narrow_shapes(index n, index n_prev, const T* W, const T* dZ, index ld_dZ,
                                                 const T* A, index ld_A, index m, T scale, T* dW, T* db,
                                                 Activation g, T* dZ_prev, std::integer_sequence<int, Ss...>) {
    return (narrow_shape<Ss>(n, n_prev, W, dZ, ld_dZ, A, ld_A, m, scale, dW, db, g, dZ_prev) || ...);
}

template <class T>
void narrow_backward_avx512(const T* W, index n, index n_prev, const T* dZ, index ld_dZ, const T* A_prev,
                            index ld_A, index m, T scale, T* dW, T* db, Activation g_prev, T* dZ_prev) {
    narrow_shapes<T>(n, n_prev, W, dZ, ld_dZ, A_prev, ld_A, m, scale, dW, db, g_prev, dZ_prev,
                     std::make_integer_sequence<int, 64>{});
}

#pragma GCC pop_options

#endif

}  // namespace

// False where the kernel is not compiled (cpu_has_avx512 is false off x86-64 GCC).
bool narrow_layers_supported() { return cpu_has_avx512(); }

template <class T>
void narrow_forward(const T* W, const T* b, index n, index n_prev, const T* A_prev, index ld_A, index m,
                    Activation g, T* A) {
    if (!narrow_layer_fits(n, n_prev))
        throw std::invalid_argument("narrow_forward: needs at most 8 units over at most 8 inputs, 16 weights");
    if (!narrow_layers_supported()) throw std::invalid_argument("narrow_forward: this CPU has no AVX-512");
#ifdef NN_NARROW_LAYERS
    narrow_forward_avx512<T>(W, b, n, n_prev, A_prev, ld_A, m, g, A);
#endif
}

template <class T>
void narrow_backward(const T* W, index n, index n_prev, const T* dZ, index ld_dZ, const T* A_prev, index ld_A,
                     index m, T scale, T* dW, T* db, Activation g_prev, T* dZ_prev) {
    if (!narrow_layer_fits(n, n_prev))
        throw std::invalid_argument("narrow_backward: needs at most 8 units over at most 8 inputs, 16 weights");
    if (!narrow_layers_supported()) throw std::invalid_argument("narrow_backward: this CPU has no AVX-512");
#ifdef NN_NARROW_LAYERS
    narrow_backward_avx512<T>(W, n, n_prev, dZ, ld_dZ, A_prev, ld_A, m, scale, dW, db, g_prev, dZ_prev);
#endif
}

template void narrow_forward<double>(const double*, const double*, index, index, const double*, index, index,
                                     Activation, double*);
template void narrow_forward<float>(const float*, const float*, index, index, const float*, index, index,
                                    Activation, float*);
template void narrow_backward<double>(const double*, index, index, const double*, index, const double*, index,
                                      index, double, double*, double*, Activation, double*);
template void narrow_backward<float>(const float*, index, index, const float*, index, const float*, index, index,
                                     float, float*, float*, Activation, float*);

}  // namespace nn
