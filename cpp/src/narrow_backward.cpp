// Kernel of narrow_backward.hpp.
#include "nn/narrow_backward.hpp"

#include <cstring>
#include <stdexcept>
#include <utility>

#include "cpu.hpp"
#include "vector_math.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_NARROW_BACKWARD 1
#endif

namespace nn {
namespace {

#ifdef NN_NARROW_BACKWARD

// Compiled for AVX-512 only, the one target it runs on (narrow_backward_supported): clones for the others
// would be dead code that tripled this file's compile time.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,fma,avx2")

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
        for (int k = 0; k < NP; ++k) dW[i][k] += dz[i] * a[k];
    }
    if (!dZ_prev) return;
#pragma GCC unroll 8
    for (int k = 0; k < NP; ++k) {
        V da = W[0][k] * dz[0];
#pragma GCC unroll 8
        for (int i = 1; i < N; ++i) da += W[i][k] * dz[i];
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
bool narrow_backward_supported() { return cpu_has_avx512(); }

template <class T>
void narrow_backward(const T* W, index n, index n_prev, const T* dZ, index ld_dZ, const T* A_prev, index ld_A,
                     index m, T scale, T* dW, T* db, Activation g_prev, T* dZ_prev) {
    if (!narrow_backward_fits(n, n_prev))
        throw std::invalid_argument("narrow_backward: needs at most 8 units over at most 8 inputs, 16 weights");
    if (!narrow_backward_supported()) throw std::invalid_argument("narrow_backward: this CPU has no AVX-512");
#ifdef NN_NARROW_BACKWARD
    narrow_backward_avx512<T>(W, n, n_prev, dZ, ld_dZ, A_prev, ld_A, m, scale, dW, db, g_prev, dZ_prev);
#endif
}

template void narrow_backward<double>(const double*, index, index, const double*, index, const double*, index,
                                      index, double, double*, double*, Activation, double*);
template void narrow_backward<float>(const float*, index, index, const float*, index, const float*, index, index,
                                     float, float*, float*, Activation, float*);

}  // namespace nn
