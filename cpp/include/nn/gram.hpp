#pragma once
// The first layer in Gram space: an exact shortcut for full-batch gradient descent when the examples are
// fewer than the features.
//
// X never changes during a fit, so with G = X^T X (m x m, formed once) and L0 = W1_0 X (n1 x m), every
// iterate of W1 is W1_t = W1_0 - (lr/m) S_t X^T where S_t = dZ1_1 + ... + dZ1_t, and therefore
//   W1_t X = L0 - (lr/m) S_t G.
// Each iteration then costs one (n1 x m) x (m x m) product instead of two (n1 x n_x) x (n_x x m) ones, and
// W1 itself is formed only when someone needs it. Z1 is computed from S_t (not by updating L in place), so
// the only rounding that accumulates is that of the running sum S, exactly as W1 accumulates its updates
// on the ordinary path.
#include <algorithm>

#include "nn/blas.hpp"
#include "nn/buffer.hpp"
#include "nn/matrix.hpp"
#include "nn/vector_ops.hpp"

namespace nn {

template <class T>
struct GramFirstLayer {
    bool active = false;
    index n1 = 0, n_x = 0, m = 0;
    T step = 0;              // learning_rate / m, fixed for the fit
    Buffer<T> G;             // X^T X            (m x m)
    Buffer<T> L0;            // W1_0 X           (n1 x m)
    Buffer<T> S;             // sum of dZ1       (n1 x m)
    Buffer<T> S_prev;        // S before the last accumulate, for undo()
    Buffer<T> W0;            // W1 at the start  (n1 x n_x)

    // Allocates and forms G and L0 from the current W1. Called once per fit, before the first iteration.
    void begin(Matrix<const T> X, Matrix<const T> W1, T learning_rate) {
        n1 = W1.rows;
        n_x = X.rows;
        m = X.cols;
        step = learning_rate / static_cast<T>(m);
        G.assign(static_cast<std::size_t>(m * m), T(0));
        L0.assign(static_cast<std::size_t>(n1 * m), T(0));
        S.assign(static_cast<std::size_t>(n1 * m), T(0));
        S_prev.assign(static_cast<std::size_t>(n1 * m), T(0));
        W0.assign(W1.data, W1.data + n1 * n_x);
        blas::gemm<T>(T(1), X.t(), X, T(0), Matrix<T>(G.data(), m, m));
        blas::gemm<T>(T(1), Matrix<const T>(W0.data(), n1, n_x), X, T(0), Matrix<T>(L0.data(), n1, m));
        active = true;
    }

    // out = W1_t X = L0 - (lr/m) S G, the first layer's Z1 before the bias.   out (n1 x m)
    void pre_activation(T* out) const {
        std::copy(L0.begin(), L0.end(), out);
        blas::gemm<T>(-step, Matrix<const T>(S.data(), n1, m), Matrix<const T>(G.data(), m, m), T(1),
                      Matrix<T>(out, n1, m));
    }

    // The gradient step of W1, recorded rather than applied: S += dZ1.   dZ1 (n1 x m)
    // Written into the spare buffer and swapped, so undo() can return to the previous S exactly.
    void accumulate(const T* dZ1) {
        add<T>(S.data(), dZ1, S_prev.data(), static_cast<index>(S.size()));
        S.swap(S_prev);
    }

    void undo() { S.swap(S_prev); }

    // W1 = W1_0 - (lr/m) S X^T, written into W1 (n1 x n_x, row-major).
    void materialize(Matrix<const T> X, T* W1) const {
        std::copy(W0.begin(), W0.end(), W1);
        blas::gemm<T>(-step, Matrix<const T>(S.data(), n1, m), X.t(), T(1), Matrix<T>(W1, n1, n_x));
    }
};

}  // namespace nn
