#pragma once
// One dense layer, forward and backward side by side (course notation, one column per example):
//   forward   Z = W A_prev + b                      W (n, n_prev), A_prev (n_prev, m), b (n, 1), Z (n, m)
//   backward  dW = dZ A_prev^T / m                  (n, n_prev)
//             db = row sums of dZ / m               (n, 1)
//             dA_prev = W^T dZ                      (n_prev, m), skipped for the first layer
#include <stdexcept>

#include "nn/activations.hpp"
#include "nn/blas.hpp"
#include "nn/matrix.hpp"
#include "nn/vector_ops.hpp"

namespace nn {

// out = g(W A_prev + b): the gemm writes W A_prev into `out` (row-major, contiguous), then bias and
// activation are applied in one pass over it (g = linear gives the plain Z).
template <class T>
void dense_forward(Matrix<const T> W, const T* b, Matrix<const T> A_prev, Activation g, Matrix<T> out) {
    if (out.col_major || !out.contiguous()) throw std::invalid_argument("dense_forward: output must be C-contiguous");
    blas::gemm<T>(T(1), W, A_prev, T(0), out);
    activation_forward<T>(g, out.data, b, out.data, out.rows, out.cols);
}

// Gradients of the layer from dZ. dA_prev.data == nullptr skips W^T dZ (the first layer needs no dA[0]).
template <class T>
void dense_backward(Matrix<const T> dZ, Matrix<const T> A_prev, Matrix<const T> W, Matrix<T> dW, T* db,
                    Matrix<T> dA_prev) {
    const index m = dZ.cols;
    const T inv_m = m > 0 ? T(1) / static_cast<T>(m) : T(0);
    blas::gemm<T>(inv_m, dZ, A_prev.t(), T(0), dW);
    row_sums<T>(dZ, inv_m, db);
    if (dA_prev.data) blas::gemm<T>(T(1), W.t(), dZ, T(0), dA_prev);
}

}  // namespace nn
