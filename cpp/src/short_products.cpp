// Kernels of short_products.hpp.
#include "nn/short_products.hpp"

#include <utility>

#include "vector_math.hpp"

namespace nn {
namespace {

// Row i of C for a K known at compile time: each element's K products stay in registers (one pass over the
// row, no reloading of partial sums), and the loop vectorises along the row. Always inlined: GCC would
// otherwise outline these helpers once, for baseline x86-64, and every clone of gemm_short_k would call that.
template <int K, class T>
[[gnu::always_inline]] inline void short_row(const T* a, Matrix<const T> B, T beta, T* c, index N) {
    const T* b = B.data;
    const index ldb = B.ld;
    if (beta == T(0)) {  // C is not read at all (it may hold NaN)
#pragma omp simd
        for (index j = 0; j < N; ++j) {
            T s = a[0] * b[j];
            for (int k = 1; k < K; ++k) s += a[k] * b[k * ldb + j];
            c[j] = s;
        }
    } else {
#pragma omp simd
        for (index j = 0; j < N; ++j) {
            T s = a[0] * b[j];
            for (int k = 1; k < K; ++k) s += a[k] * b[k * ldb + j];
            c[j] = beta * c[j] + s;
        }
    }
}

template <class T, int... Ks>
[[gnu::always_inline]] inline void short_rows(Matrix<const T> A, T alpha, Matrix<const T> B, T beta, Matrix<T> C,
                       std::integer_sequence<int, Ks...>) {
    for (index i = 0; i < C.rows; ++i) {
        T a[short_k_max];  // row i of alpha A (alpha is 1 in the training loop, where this is exact)
        for (index k = 0; k < A.cols; ++k) a[k] = alpha * A(i, k);
        T* c = C.data + i * C.ld;
        // the instance for this K (exactly one of the comparisons holds)
        ((A.cols == Ks + 1 ? short_row<Ks + 1>(a, B, beta, c, C.cols) : void()), ...);
    }
}

}  // namespace

template <class T>
NN_KERNEL void gemm_short_k(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    short_rows<T>(A, alpha, B, beta, C, std::make_integer_sequence<int, short_k_max>{});
}

template void gemm_short_k<double>(double, Matrix<const double>, Matrix<const double>, double, Matrix<double>);
template void gemm_short_k<float>(float, Matrix<const float>, Matrix<const float>, float, Matrix<float>);

}  // namespace nn
