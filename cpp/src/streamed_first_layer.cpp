// Kernel of streamed_first_layer.hpp.
#include "nn/streamed_first_layer.hpp"

#include "vector_math.hpp"

namespace nn {

namespace {

// One pass over the m columns of eight rows at a time, doing two jobs at once: the dot products with dZ of
// the next block's rows `next` (into s, when Dots), and Z_part += sum_r w[r] cur[r] for the block whose
// step is known (when Update). Interleaving the two keeps the reads from memory (the next block) steady
// next to the arithmetic on rows already in cache: when each block took its dot products and then its
// update, the update left the memory idle, and a pass over the 20.5 MB X of logistic and cat took 487-492 us
// on two threads against 409-425 us this way (C++ driver; a plain sum read it in 364-371 us meanwhile).
template <class T, bool Dots, bool Update>
[[gnu::always_inline]] inline void rows_pass(const T* const* next, const T* const* cur, const T* w, const T* dZ,
                                              T* Z_part, index m, T* s) {
    const T *n0 = next[0], *n1 = next[1], *n2 = next[2], *n3 = next[3], *n4 = next[4], *n5 = next[5],
            *n6 = next[6], *n7 = next[7];
    const T *c0 = cur[0], *c1 = cur[1], *c2 = cur[2], *c3 = cur[3], *c4 = cur[4], *c5 = cur[5], *c6 = cur[6],
            *c7 = cur[7];
    const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7];
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
    for (index j = 0; j < m; ++j) {
        if constexpr (Dots) {
            const T d = dZ[j];
            s0 += n0[j] * d;
            s1 += n1[j] * d;
            s2 += n2[j] * d;
            s3 += n3[j] * d;
            s4 += n4[j] * d;
            s5 += n5[j] * d;
            s6 += n6[j] * d;
            s7 += n7[j] * d;
        }
        if constexpr (Update)
            Z_part[j] += ((w0 * c0[j] + w1 * c1[j]) + (w2 * c2[j] + w3 * c3[j])) +
                         ((w4 * c4[j] + w5 * c5[j]) + (w6 * c6[j] + w7 * c7[j]));
    }
    if constexpr (Dots) {
        s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3, s[4] = s4, s[5] = s5, s[6] = s6, s[7] = s7;
    }
}

}  // namespace

template <class T>
NN_KERNEL void streamed_rows(const T* X, index ld, index m, index r0, index r1, const T* dZ, T learning_rate,
                             const T* W, T* W_next, T* Z_part) {
    const T inv_m = T(1) / static_cast<T>(m);
#pragma omp simd
    for (index j = 0; j < m; ++j) Z_part[j] = T(0);
    // eight rows at a time (the rows are short, 209 elements for cat, so per-loop costs count), the dot
    // products of block b+1 in the same pass as the update of Z by block b
    const index blocks = (r1 - r0) / 8;
    const T *cur[8], *next[8];
    T w[8] = {}, s[8];
    index i = r0;
    if (blocks > 0) {
        for (int r = 0; r < 8; ++r) next[r] = X + (i + r) * ld;
        rows_pass<T, true, false>(next, next, w, dZ, Z_part, m, s);
    }
    for (index b = 0; b < blocks; ++b, i += 8) {
        for (int r = 0; r < 8; ++r) {
            W_next[i + r] = w[r] = W[i + r] - learning_rate * (s[r] * inv_m);
            cur[r] = next[r];
        }
        if (b + 1 < blocks) {
            for (int r = 0; r < 8; ++r) next[r] = X + (i + 8 + r) * ld;
            rows_pass<T, true, true>(next, cur, w, dZ, Z_part, m, s);
        } else {
            rows_pass<T, false, true>(cur, cur, w, dZ, Z_part, m, s);
        }
    }
    for (; i < r1; ++i) {
        const T* x = X + i * ld;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (index j = 0; j < m; ++j) dot += x[j] * dZ[j];
        const T w_i = W[i] - learning_rate * (dot * inv_m);
        W_next[i] = w_i;
#pragma omp simd
        for (index j = 0; j < m; ++j) Z_part[j] += w_i * x[j];
    }
}

template void streamed_rows<double>(const double*, index, index, index, index, const double*, double, const double*,
                                    double*, double*);
template void streamed_rows<float>(const float*, index, index, index, index, const float*, float, const float*,
                                   float*, float*);

}  // namespace nn
