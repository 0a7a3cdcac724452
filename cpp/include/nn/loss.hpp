#pragma once
// Binary cross-entropy J = -1/m sum(y log a + (1 - y) log(1 - a)) and its gradient for a sigmoid output.
#include "nn/matrix.hpp"

namespace nn {

// J from the output pre-activation Z (a = sigmoid(z)): each term is max(z, 0) - y z + log1p(exp(-|z|)),
// the same value without ever forming log(0); finite for any finite z. Summed in double.
template <class T>
double cross_entropy_from_logits(const T* Z, const T* Y, index count, index m);

// J from probabilities AL, as the course writes it (a = 0 with y = 1 is +inf, honestly).
template <class T>
double cross_entropy(const T* AL, const T* Y, index count, index m);

// Backward of sigmoid + cross-entropy together, from Z[L]: dZ[L] = A[L] - Y = sigmoid(Z[L]) - Y. dZ may alias ZL.
template <class T>
void cross_entropy_backward_from_logits(const T* ZL, const T* Y, T* dZ, index count);

// The same in place over the columns [begin, begin + count) of the (n x m) Z[L] and labels Y: a thread's
// columns when a team splits the examples.
template <class T>
inline void cross_entropy_backward_columns(T* ZL, const T* Y, index n, index m, index begin, index count) {
    for (index i = 0; i < n; ++i) {
        const index at = i * m + begin;
        cross_entropy_backward_from_logits<T>(ZL + at, Y + at, ZL + at, count);
    }
}

}  // namespace nn
