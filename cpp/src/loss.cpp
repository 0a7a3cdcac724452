// Kernels of loss.hpp.
#include "nn/loss.hpp"

#include "vector_math.hpp"

namespace nn {

template <class T>
NN_KERNEL double cross_entropy_from_logits(const T* Z, const T* Y, index count, index m) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (index k = 0; k < count; ++k) {
        const T z = Z[k];
        const T term = (z > T(0) ? z : T(0)) - Y[k] * z + vm::log1p(vm::exp_neg(std::fabs(z)));
        sum += static_cast<double>(term);
    }
    return sum / static_cast<double>(m);
}

template <class T>
NN_KERNEL double cross_entropy(const T* AL, const T* Y, index count, index m) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (index k = 0; k < count; ++k) {
        const T a = AL[k], y = Y[k];
        // Skip a term whose weight is exactly 0, so that y = 1, a = 1 gives 0 rather than 0 * -inf = NaN.
        const T pos = y != T(0) ? y * vm::log(a) : T(0);
        const T neg = y != T(1) ? (T(1) - y) * vm::log1p(-a) : T(0);
        sum -= static_cast<double>(pos + neg);
    }
    return sum / static_cast<double>(m);
}

template <class T>
NN_KERNEL void cross_entropy_backward_from_logits(const T* ZL, const T* Y, T* dZ, index count) {
#pragma omp simd
    for (index k = 0; k < count; ++k) dZ[k] = vm::sigmoid(ZL[k]) - Y[k];
}

template double cross_entropy_from_logits<double>(const double*, const double*, index, index);
template double cross_entropy_from_logits<float>(const float*, const float*, index, index);
template double cross_entropy<double>(const double*, const double*, index, index);
template double cross_entropy<float>(const float*, const float*, index, index);
template void cross_entropy_backward_from_logits<double>(const double*, const double*, double*, index);
template void cross_entropy_backward_from_logits<float>(const float*, const float*, float*, index);

}  // namespace nn
