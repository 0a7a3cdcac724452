#pragma once
// Column slices: the training loop of a large network runs on a team of threads, each owning a contiguous
// range of the m examples (columns). A column of Z[l] needs only the same column of A[l-1], so forward takes
// each slice through every layer without waiting, and dA[l-1] = W[l]^T dZ[l] stays within the slice too;
// only dW[l] = dZ[l] A[l-1]^T (and db[l]) sums over every column. Each thread forms them over its own columns and
// the team meets once per layer to add the parts and take the layer's step (Network::backward_team); where the
// parts have no room, the team shares each product instead and meets twice.
//
// The team is OpenMP's, and OpenBLAS is held at one thread while it runs: the elementwise passes (bias,
// activation, derivative) then run on every core next to their gemm, which OpenBLAS's own threading leaves
// to one core. Two pools side by side would fight over the cores: a waiting OpenBLAS thread spins.
#include <omp.h>

#include <thread>

#include "nn/matrix.hpp"

namespace nn {

struct Slice {
    index begin = 0, size = 0;
};

// Part s of S near-equal parts of [0, n). Boundaries fall on multiples of `align` (8 unless asked) where n
// allows, so each part's rows start on the same vector lane as the whole row's.
inline Slice slice(index n, int s, int S, index align = 8) {
    auto edge = [&](int k) { return k == S ? n : (n * k / S) / align * align; };
    return {edge(s), edge(s + 1) - edge(s)};
}

// This thread's slice of [0, n) within the current team (the whole range outside a parallel region).
inline Slice my_slice(index n) { return slice(n, omp_get_thread_num(), omp_get_num_threads()); }

// Waits until ready() says true: spinning briefly, then yielding the core between looks, so that on a busy
// machine a descheduled partner costs the waiting threads a yield, not a core.
template <class Ready>
inline void spin_until(Ready ready) {
    for (int spins = 0; !ready(); ++spins) {
        if (spins < 4096) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        } else {
            std::this_thread::yield();
        }
    }
}

}  // namespace nn
