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
    // eight rows at a time: eight dot products per pass over dZ, one update of Z (fewer, longer loops: the
    // rows are short, 209 elements for cat, so per-loop costs count)
    for (; i + 8 <= r1; i += 8) {
        const T* x[8];
        for (int r = 0; r < 8; ++r) x[r] = X + (i + r) * ld;
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
        for (index j = 0; j < m; ++j) {
            const T d = dZ[j];
            s0 += x[0][j] * d;
            s1 += x[1][j] * d;
            s2 += x[2][j] * d;
            s3 += x[3][j] * d;
            s4 += x[4][j] * d;
            s5 += x[5][j] * d;
            s6 += x[6][j] * d;
            s7 += x[7][j] * d;
        }
        const T s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
        T w[8];
        for (int r = 0; r < 8; ++r) W_next[i + r] = w[r] = W[i + r] - learning_rate * (s[r] * inv_m);
#pragma omp simd
        for (index j = 0; j < m; ++j)
            Z_part[j] += ((w[0] * x[0][j] + w[1] * x[1][j]) + (w[2] * x[2][j] + w[3] * x[3][j])) +
                         ((w[4] * x[4][j] + w[5] * x[5][j]) + (w[6] * x[6][j] + w[7] * x[7][j]));
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
