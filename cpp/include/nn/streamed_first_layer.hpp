#pragma once
// A first layer of one unit (logistic regression, n[1] = 1) in one pass over X per iteration.
//
// Its two products with X, dW[1] = dZ[1] X^T / m and the next iteration's W[1] X, are matrix-vector products:
// 2 flops per element of X each, so each costs what reading X from memory costs (cat's 20.5 MB X: 488 us at
// the 42 GB/s two cores read here). Taken a row of X at a time, one read serves both while the row is in
// cache: dW_i = X_i . dZ / m, then W_i - learning_rate dW_i, then Z += (that) X_i. Each thread of a team
// takes a range of rows and sums its own part of Z; the parts are added afterwards.
#include "nn/matrix.hpp"

namespace nn {

// Rows where one thread's part of Z (m values) and a row of X stay in a core's L2 cache together.
inline constexpr index streamed_max_m = index(1) << 16;

// For the rows [r0, r1) of X (row-major, leading dimension ld, m columns) and dZ (1 x m):
// W_next[i] = W[i] - learning_rate (X_i . dZ) / m, and Z_part = sum over those rows of W_next[i] X_i.
template <class T>
void streamed_rows(const T* X, index ld, index m, index r0, index r1, const T* dZ, T learning_rate, const T* W,
                   T* W_next, T* Z_part);

}  // namespace nn
