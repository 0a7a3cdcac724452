// Kernels of vector_ops.hpp.
#include "nn/vector_ops.hpp"

#include "vector_math.hpp"

namespace nn {

template <class T>
NN_KERNEL void row_sums(Matrix<const T> dZ, T scale, T* db) {
    if (!dZ.col_major) {
        // Four rows at a time: one row's sum is a chain of vector additions, bound by the adder's latency rather
        // than by the loads; four independent chains keep it busy. Each row is still summed in its own order.
        index i = 0;
        for (; i + 4 <= dZ.rows; i += 4) {
            const T *r0 = dZ.data + i * dZ.ld, *r1 = r0 + dZ.ld, *r2 = r1 + dZ.ld, *r3 = r2 + dZ.ld;
            T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
#pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (index j = 0; j < dZ.cols; ++j) {
                s0 += r0[j];
                s1 += r1[j];
                s2 += r2[j];
                s3 += r3[j];
            }
            db[i] = s0 * scale;
            db[i + 1] = s1 * scale;
            db[i + 2] = s2 * scale;
            db[i + 3] = s3 * scale;
        }
        for (; i < dZ.rows; ++i) {
            const T* row = dZ.data + i * dZ.ld;
            T s = T(0);
#pragma omp simd reduction(+ : s)
            for (index j = 0; j < dZ.cols; ++j) s += row[j];
            db[i] = s * scale;
        }
        return;
    }
    for (index i = 0; i < dZ.rows; ++i) db[i] = T(0);
    for (index j = 0; j < dZ.cols; ++j) {
        const T* col = dZ.data + j * dZ.ld;
#pragma omp simd
        for (index i = 0; i < dZ.rows; ++i) db[i] += col[i];
    }
    for (index i = 0; i < dZ.rows; ++i) db[i] *= scale;
}

template <class T>
NN_KERNEL void descend(const T* p, T alpha, T* d, index count) {
#pragma omp simd
    for (index k = 0; k < count; ++k) d[k] = p[k] - alpha * d[k];
}

template <class T>
NN_KERNEL void add_and_descend(const T* p, T alpha, T* d, const T* part, index count) {
    // the sum rounded first, then the step: the same two roundings as add() then descend()
#pragma omp simd
    for (index k = 0; k < count; ++k) {
        const T sum = d[k] + part[k];
        d[k] = p[k] - alpha * sum;
    }
}

template <class T>
NN_KERNEL void add(const T* x, const T* y, T* out, index count) {
#pragma omp simd
    for (index k = 0; k < count; ++k) out[k] = x[k] + y[k];
}

template <class T>
NN_KERNEL bool all_finite(const T* x, index count) {
    // x * 0 is 0 for every finite x and NaN for NaN and infinities; one NaN makes the sum NaN.
    T sum = T(0);
#pragma omp simd reduction(+ : sum)
    for (index k = 0; k < count; ++k) sum += x[k] * T(0);
    return sum == T(0);
}

#define NN_INSTANTIATE(T)                                               \
    template void row_sums<T>(Matrix<const T>, T, T*);                  \
    template void descend<T>(const T*, T, T*, index);                   \
    template void add_and_descend<T>(const T*, T, T*, const T*, index); \
    template void add<T>(const T*, const T*, T*, index);                \
    template bool all_finite<T>(const T*, index);
NN_INSTANTIATE(double)
NN_INSTANTIATE(float)
#undef NN_INSTANTIATE

}  // namespace nn
