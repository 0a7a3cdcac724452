#pragma once
// Backward through a narrow layer (a few units over a few inputs, planar's [2, 4, 1]) in one pass over the
// examples: dW, db and dZ of the layer below together, each column's values loaded once and the sums kept in
// registers. Through the general path the same layer is a row sum, a product for dW, a product for
// W^T dZ and an activation pass, each a call and a pass of its own, and on such layers those costs are most
// of the backward pass (figures in network.hpp, where it is chosen).
#include "nn/activations.hpp"
#include "nn/matrix.hpp"

namespace nn {

// Layer sizes with an instance: n units over n_prev inputs, each at most 8, n n_prev at most narrow_max_weights
// (so that the n n_prev + n sums stay in the 32 vector registers next to a column's values).
inline constexpr int narrow_max_units = 8;
inline constexpr int narrow_max_weights = 16;

// Whether this CPU has the 64-byte vectors the kernel was measured on (AVX-512, as the short products).
bool narrow_backward_supported();

inline bool narrow_backward_fits(index n, index n_prev) {
    return n >= 1 && n_prev >= 1 && n <= narrow_max_units && n_prev <= narrow_max_units &&
           n * n_prev <= narrow_max_weights;
}

// For a layer of n units over n_prev inputs and m examples (all row-major, rows of m values at the given
// leading dimensions):
//   dW = scale dZ A_prev^T (n x n_prev, contiguous), db = scale (row sums of dZ), and, when dZ_prev is given,
//   dZ_prev = (W^T dZ) * g_prev'(A_prev), computed from A_prev = g_prev(Z_prev) as activation_backward_from_output
//   does; dZ_prev may be A_prev itself (the network writes dZ[l-1] over A[l-1]).
// Throws invalid_argument for sizes without an instance (narrow_backward_fits).
template <class T>
void narrow_backward(const T* W, index n, index n_prev, const T* dZ, index ld_dZ, const T* A_prev, index ld_A,
                     index m, T scale, T* dW, T* db, Activation g_prev, T* dZ_prev);

}  // namespace nn
