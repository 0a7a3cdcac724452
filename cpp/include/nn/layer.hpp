#pragma once
// One layer of the network: its parameters and the buffers its gradients (then the parameters before the
// last step) go to.
#include "nn/activations.hpp"
#include "nn/buffer.hpp"
#include "nn/matrix.hpp"

namespace nn {

template <class T>
struct Layer {
    index n, n_prev;
    Activation g;
    Buffer<T> W, b;    // (n, n_prev) row-major, (n, 1)
    Buffer<T> dW, db;  // gradients of the last backward pass, same shapes

    Matrix<T> W_mat() { return {W.data(), n, n_prev}; }
    Matrix<const T> W_mat() const { return {W.data(), n, n_prev}; }
};

}  // namespace nn
