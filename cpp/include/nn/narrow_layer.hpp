#pragma once
// Forward and backward through a narrow layer (a few units over a few inputs, planar's [2, 4, 1]), each in one
// pass over the examples. Through the general path such a layer's forward is a product and an activation pass,
// and its backward a row sum, a product for dW, a product for W^T dZ and an activation pass: each a call and a
// pass of its own, and on such layers those costs are most of an iteration (figures in network.hpp, where
// these are chosen). Built for AVX-512 and for AVX2 (narrow_layer_kernels.inc).
#include "nn/activations.hpp"
#include "nn/matrix.hpp"

namespace nn {

// Layer sizes with an instance: n units over n_prev inputs, each at most 8, n n_prev at most narrow_max_weights
// (so that backward's n n_prev + n sums stay in the 32 vector registers next to a column's values).
inline constexpr int narrow_max_units = 8;
inline constexpr int narrow_max_weights = 16;

// Whether this CPU has AVX-512 or AVX2 with FMA, the instruction sets the kernels are built and measured for;
// elsewhere the general path runs.
bool narrow_layers_supported();

inline bool narrow_layer_fits(index n, index n_prev) {
    return n >= 1 && n_prev >= 1 && n <= narrow_max_units && n_prev <= narrow_max_units &&
           n * n_prev <= narrow_max_weights;
}

// A = g(W A_prev + b) for n units over n_prev inputs and m examples (A_prev row-major with leading dimension
// ld_A, A row-major with leading dimension ld), in one pass: each element's products in registers, in order (w_0 a_0, then an FMA
// for each k = 1, 2, ...), then the bias and g rounded exactly as activation_forward rounds them. A must not
// overlap A_prev. Throws invalid_argument for sizes without an instance (narrow_layer_fits).
// vector_bytes, here and below: 0 runs the widest vectors this CPU has; 64 (AVX-512) or 32 (AVX2) asks for
// those (the tests run both), and throws invalid_argument if the CPU lacks them.
template <class T>
void narrow_forward(const T* W, const T* b, index n, index n_prev, const T* A_prev, index ld_A, index m,
                    Activation g, T* A, index ld, int vector_bytes = 0);

// For the same layer, from dZ (n x m, leading dimension ld_dZ):
//   dW = scale dZ A_prev^T (n x n_prev, contiguous), db = scale (row sums of dZ), and, when dZ_prev is given,
//   dZ_prev = (W^T dZ) * g_prev'(A_prev), computed from A_prev = g_prev(Z_prev) as activation_backward_from_output
//   does; dZ_prev may be A_prev itself (the network writes dZ[l-1] over A[l-1]).
// Throws invalid_argument for sizes without an instance.
template <class T>
void narrow_backward(const T* W, index n, index n_prev, const T* dZ, index ld_dZ, const T* A_prev, index ld_A,
                     index m, T scale, T* dW, T* db, Activation g_prev, T* dZ_prev, int vector_bytes = 0);

}  // namespace nn
