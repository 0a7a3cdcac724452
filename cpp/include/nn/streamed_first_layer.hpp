#pragma once
// A first layer of one unit (logistic regression, n[1] = 1), or of a few, in one pass over X per iteration.
//
// Its two products with X, dW[1] = dZ[1] X^T / m and the next iteration's W[1] X, are matrix-vector products:
// 2 flops per element of X each, so each costs what reading X from memory costs (cat's 20.5 MB X: 488 us at
// the 42 GB/s two cores read here). Taken a row of X at a time, one read serves both while the row is in
// cache: dW_i = X_i . dZ / m, then W_i - learning_rate dW_i, then Z += (that) X_i. Each thread of a team
// takes a range of rows and sums its own part of Z; the parts are added afterwards.
//
// A layer of a few units (cat's 20) does the same a block of rows at a time (streamed_first_layer_units.cpp):
// its products with X are skinny matrix products, for which OpenBLAS copies (packs) all of X on each of the two
// calls -- a third of cat's primal iteration, measured -- while here a block of X is read from memory once and
// used for both from cache.
#include "nn/matrix.hpp"

namespace nn {

// Elements of one thread's part of Z (1 x m) that stay in a core's L2 cache next to the rows of X it reads.
inline constexpr index streamed_max_m = index(1) << 16;

// Bytes of one thread's part of Z (n[1] x m) up to which a layer of several units is streamed. Past L2 the part,
// dZ^T and a block of X come from L3, and the gain of reading X once fades. Measured on cat's [12288, 20, ...]
// against its products through OpenBLAS (nn.fit, best of 7, 2 threads, OpenBLAS on its AVX-512 kernels, a
// 2-core EPYC with 1 MB of L2 a core and 32 MB of L3): 1.51x and 1.53x as fast at 0.66 and 0.33 MB (m = 4096,
// float64 and float32), 1.24x at 1.3 MB (m = 8192, float64; on one thread 1.40x), 1.12x and 1.37x at 2.6 and
// 1.3 MB (m = 16384), 1.00x and 1.13x at 5.2 and 2.6 MB (m = 32768), and 0.92x at 5.2 MB (m = 65536, float32).
inline constexpr index streamed_units_max_part_bytes = index(3) << 20;

// For the rows [r0, r1) of X (row-major, leading dimension ld, m columns) and dZ (1 x m):
// W_next[i] = W[i] - learning_rate (X_i . dZ) / m, and Z_part = sum over those rows of W_next[i] X_i.
template <class T>
void streamed_rows(const T* X, index ld, index m, index r0, index r1, const T* dZ, T learning_rate, const T* W,
                   T* W_next, T* Z_part);

// Elements from one thread's part of Z to the next's: the part rounded up to whole 4 KiB pages, and a page
// more, so that no page holds two threads' parts. With the parts side by side, cat's iteration took 7-10%
// longer while the two cores were far apart (the likely cause: a core's prefetcher, which runs ahead within
// a page, pulling in the lines the other core is writing).
template <class T>
constexpr index streamed_part_stride(index part) {
    constexpr index page = 4096 / static_cast<index>(sizeof(T));
    return (part + page - 1) / page * page + page;
}

// The most units a streamed first layer may have (its part of Z must also stay within
// streamed_units_max_part_bytes).
inline constexpr index streamed_max_units = 32;

// Whether this CPU runs the kernel for several units (it needs AVX-512).
bool streamed_units_supported();

// Units of dZ^T's rows, padded to whole vectors (streamed_rows_units reads dZ^T as (m x this)).
template <class T>
index streamed_units_padding(index n1);

// dZ^T (m x streamed_units_padding(n1)) from dZ (n1 x m) as streamed_rows_units reads it: the lanes past n1
// hold the last n1 % lanes units' dZ again, as many times as fit (the float32 kernel packs those units of
// several rows of X into one vector; the other tiles compute on these lanes but never store the results).
template <class T>
void streamed_units_transpose(const T* dZ, index n1, index m, T* dZT);

// streamed_rows for n1 units: W and W_next (n1 x n_x, leading dimension ldw), dZT from streamed_units_transpose,
// Z_part (n1 x m, leading dimension m).
template <class T>
void streamed_rows_units(const T* X, index ld, index m, index r0, index r1, const T* dZT, index n1,
                         T learning_rate, const T* W, T* W_next, index ldw, T* Z_part);

}  // namespace nn
