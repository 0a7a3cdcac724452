#pragma once
// Products with a short inner dimension (K of a few), computed here rather than by OpenBLAS: on the narrow
// networks (planar's [2, 4, 1]: W[1] X with K = 2, W[2] A[1] with K = 4, the outer product W[2]^T dZ[2]) a
// BLAS call costs more in its entry, checks and dispatch than the few thousand multiply-adds it does
// (planar, per iteration: 3.40 -> 3.18 us in float64, 1.40 -> 1.33 in float32).
#include "nn/matrix.hpp"

namespace nn {

inline constexpr int short_k_max = 8;

// Whether this CPU has AVX-512, where the kernels below were measured faster than OpenBLAS on the shapes that
// short_k_pays and short_mn_pays allow. Built for AVX2 only (measured on the same machine) they were slower on
// several of them (4 x 400 x 2: 233 against 173 ns in float64; the dot products, whose 64-byte vectors GCC
// splits poorly for AVX2, 4-8 times slower), so elsewhere OpenBLAS does every product.
bool short_products_supported();

// Whether C (M x N) = A (M x K) B is faster here than through OpenBLAS (blas::gemm_blas). Measured per call
// with OpenBLAS at one thread (`nn_bench --benchmark_filter=small_product`, medians of 3, float64 / float32):
// faster for outer products (K = 1: 4 x 400 in 108 against 116 ns and 53 against 73; 256 x 256 in 9.0 against
// 12.8 us) and for a row or two with a short K (1 x 400 x 4: 58 against 180 ns and 34 against 89; 4 x 400 x 2:
// 175 against 206 ns, 93 against 93), but slower once several rows share a longer K (7 x 209 x 5: 360 against
// 288 ns; 2 x 4096 x 8: 3.9 against 3.6 us), where OpenBLAS's register blocking pays for its entry costs.
inline bool short_k_pays(index M, index N, index K) {
    if (K == 1) return M * N <= (index(1) << 16);
    return K >= 2 && K <= short_k_max && M * K <= 8 && M * N * K <= (index(1) << 14);
}

// C = alpha A B + beta C for B and C row-major (rows of B and C contiguous, any leading dimension) and A in
// either order; 1 <= K = A.cols <= short_k_max. Each element is its K products added in order (k = 0, 1, ...),
// plus beta C unless beta is 0: beta = 0 ignores what C held, NaN included, as gemm does.
template <class T>
void gemm_short_k(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C);

// Products of one row with a few columns (C of one row, at most 8 elements) over a long K: the weight gradient
// of the narrow networks' output layer (planar's dW[2] = dZ[2] A[1]^T / m is 1 x 4 over K = 400 examples),
// as N dot products. Measured as above: 1 x 4 over 400 in 66 against 174 ns and 37 against 105; 1 x 5 over
// 209 in 60 against 132 and 37 against 91. Other shapes stay with OpenBLAS: planar's dW[1], 4 x 2 over 400,
// took 130 against 106 ns and 80 against 70; a column of 8 over 2048 took 1.06-1.55 us against 1.19-1.29
// (float64) from run to run, as the rows happened to start 64-byte aligned or not (a 64-byte load from an
// unaligned row touches two cache lines).
inline constexpr int short_mn_max = 8;

inline bool short_mn_pays(index M, index N, index K) {
    return M == 1 && N <= short_mn_max && K >= 1 && N * K <= (index(1) << 16);
}

// C = alpha A B + beta C for A row-major and B column-major (the rows of A and the columns of B contiguous
// along K, any leading dimension), C in either order, M N <= short_mn_max (any shape: blas::gemm takes it
// only where short_mn_pays). beta = 0 ignores what C held.
template <class T>
void gemm_short_mn(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C);

}  // namespace nn
