// Kernels of short_products.hpp.
#include "nn/short_products.hpp"

#include <cstring>
#include <stdexcept>
#include <utility>

#include "cpu.hpp"
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
[[gnu::always_inline]] inline void short_rows(Matrix<const T> A, T alpha, Matrix<const T> B, T beta,
                                              Matrix<T> C, std::integer_sequence<int, Ks...>) {
    for (index i = 0; i < C.rows; ++i) {
        T a[short_k_max];  // row i of alpha A (alpha is 1 in the training loop, where this is exact)
        for (index k = 0; k < A.cols; ++k) a[k] = alpha * A(i, k);
        T* c = C.data + i * C.ld;
        // the instance for this K (exactly one of the comparisons holds)
        ((A.cols == Ks + 1 ? short_row<Ks + 1>(a, B, beta, c, C.cols) : void()), ...);
    }
}

// The M x N dot products of rows of A with columns of B (both contiguous along K) for M and N known at compile
// time: one pass along K with an accumulator vector per element of C (register blocking: each 64-byte piece of a
// row of A or a column of B is loaded once for all the products it takes part in).
template <int M, int N, class T>
[[gnu::always_inline]] inline void short_dots(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    typedef T vec __attribute__((vector_size(64)));
    constexpr index w = 64 / sizeof(T);
    const index K = A.cols;
    vec acc[M][N] = {};
    index k = 0;
    for (; k + w <= K; k += w) {
        vec a[M], b[N];
        // unrolled, so that the accumulators live in registers (-O2 would keep these loops, and them on the stack)
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) std::memcpy(&a[i], A.data + i * A.ld + k, sizeof(vec));
#pragma GCC unroll 8
        for (int j = 0; j < N; ++j) std::memcpy(&b[j], B.data + j * B.ld + k, sizeof(vec));
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < N; ++j) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            T s = vm::lane_sum<T, 64>(acc[i][j]);
            for (index t = k; t < K; ++t) s += A.data[i * A.ld + t] * B.data[j * B.ld + t];
            C(i, j) = beta == T(0) ? alpha * s : alpha * s + beta * C(i, j);
        }
}

// short_dots for C's shape, MN encoding M = MN / 8 + 1 and N = MN % 8 + 1 (only shapes with M N <= short_mn_max
// are instantiated). A function, not a lambda: GCC outlines a lambda for baseline x86-64, as any helper it does
// not inline.
template <int MN, class T>
[[gnu::always_inline]] inline void short_dots_shape(T alpha, Matrix<const T> A, Matrix<const T> B, T beta,
                                                    Matrix<T> C) {
    constexpr int M = MN / 8 + 1, N = MN % 8 + 1;
    if constexpr (M * N <= short_mn_max) short_dots<M, N>(alpha, A, B, beta, C);
}

template <class T, int... MNs>
[[gnu::always_inline]] inline void short_dots_for(T alpha, Matrix<const T> A, Matrix<const T> B, T beta,
                                                  Matrix<T> C, std::integer_sequence<int, MNs...>) {
    ((C.rows == MNs / 8 + 1 && C.cols == MNs % 8 + 1 ? short_dots_shape<MNs>(alpha, A, B, beta, C) : void()), ...);
}

}  // namespace

bool short_products_supported() { return cpu_has_avx512(); }

// Only the shapes with an instance: any other would leave C untouched, so it is refused.
template <class T>
NN_KERNEL void gemm_short_mn(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    if (C.rows < 1 || C.cols < 1 || C.rows * C.cols > short_mn_max || A.col_major || !B.col_major)
        throw std::invalid_argument("gemm_short_mn: needs a C of 1 to 8 elements, A row-major, B column-major");
    short_dots_for<T>(alpha, A, B, beta, C, std::make_integer_sequence<int, 64>{});
}

template <class T>
NN_KERNEL void gemm_short_k(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    if (A.cols < 1 || A.cols > short_k_max || B.col_major || C.col_major)
        throw std::invalid_argument("gemm_short_k: needs 1 <= K <= 8, B and C row-major");
    short_rows<T>(A, alpha, B, beta, C, std::make_integer_sequence<int, short_k_max>{});
}

template void gemm_short_mn<double>(double, Matrix<const double>, Matrix<const double>, double, Matrix<double>);
template void gemm_short_mn<float>(float, Matrix<const float>, Matrix<const float>, float, Matrix<float>);
template void gemm_short_k<double>(double, Matrix<const double>, Matrix<const double>, double, Matrix<double>);
template void gemm_short_k<float>(float, Matrix<const float>, Matrix<const float>, float, Matrix<float>);

}  // namespace nn
