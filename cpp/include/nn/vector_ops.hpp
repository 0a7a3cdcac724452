#pragma once
// The small vector loops of the engine (row sums, the gradient step, the Gram sum, the finiteness check),
// compiled in vector_ops.cpp for baseline x86-64, AVX2 and AVX-512 like the activations; written inline in
// the headers they would be compiled for the baseline only.
#include "nn/matrix.hpp"

namespace nn {

// db = scale * (row sums of dZ), for either storage order of dZ.
template <class T>
void row_sums(Matrix<const T> dZ, T scale, T* db);

// d = p - alpha d: the gradient-descent step written over the gradient.
template <class T>
void descend(const T* p, T alpha, T* d, index count);

// d = p - alpha (d + part): a gradient's last part added and the step taken in one pass.
template <class T>
void add_and_descend(const T* p, T alpha, T* d, const T* part, index count);

// out = x + y (out may alias either).
template <class T>
void add(const T* x, const T* y, T* out, index count);

// Whether every element is finite (no NaN, no infinity).
template <class T>
bool all_finite(const T* x, index count);

}  // namespace nn
