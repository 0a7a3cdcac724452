// Kernel of streamed_first_layer.hpp.
#include "nn/streamed_first_layer.hpp"

#include "vector_math.hpp"

namespace nn {

template <class T>
NN_KERNEL void streamed_rows(const T* X, index ld, index m, index r0, index r1, const T* dZ, T learning_rate,
                             const T* W, T* W_next, T* Z_part) {
    const T inv_m = T(1) / static_cast<T>(m);
#pragma omp simd
    for (index j = 0; j < m; ++j) Z_part[j] = T(0);
    index i = r0;
    for (; i + 4 <= r1; i += 4) {  // four rows at a time: four dot products per pass over dZ, one update of Z
        const T *x0 = X + i * ld, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (index j = 0; j < m; ++j) {
            s0 += x0[j] * dZ[j];
            s1 += x1[j] * dZ[j];
            s2 += x2[j] * dZ[j];
            s3 += x3[j] * dZ[j];
        }
        const T w0 = W[i] - learning_rate * (s0 * inv_m), w1 = W[i + 1] - learning_rate * (s1 * inv_m);
        const T w2 = W[i + 2] - learning_rate * (s2 * inv_m), w3 = W[i + 3] - learning_rate * (s3 * inv_m);
        W_next[i] = w0;
        W_next[i + 1] = w1;
        W_next[i + 2] = w2;
        W_next[i + 3] = w3;
#pragma omp simd
        for (index j = 0; j < m; ++j) Z_part[j] += (w0 * x0[j] + w1 * x1[j]) + (w2 * x2[j] + w3 * x3[j]);
    }
    for (; i < r1; ++i) {
        const T* x = X + i * ld;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (index j = 0; j < m; ++j) s += x[j] * dZ[j];
        const T w = W[i] - learning_rate * (s * inv_m);
        W_next[i] = w;
#pragma omp simd
        for (index j = 0; j < m; ++j) Z_part[j] += w * x[j];
    }
}

template void streamed_rows<double>(const double*, index, index, index, index, const double*, double, const double*,
                                    double*, double*);
template void streamed_rows<float>(const float*, index, index, index, index, const float*, float, const float*,
                                   float*, float*);

}  // namespace nn
