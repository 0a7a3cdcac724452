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

#include <atomic>
#include <cstdint>
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

// What thread s of a team posts for round r (see meet): its word on the round, in a cache line of its own.
struct alignas(64) TeamPost {
    std::atomic<std::int64_t> round{0};  // the last round posted
    bool finite = true;                  // (train_narrow_team) its columns of Z[L] are finite
    bool stop = false;                   // (train_narrow_team, thread 0) train's `stop` said true
};

// Thread s posts round r (whatever it wrote before, its parts included, goes with it) and waits until every
// thread of the team has posted round r: a barrier that carries each thread's word. Posts alternate between
// two sets by the round's parity: a thread can be one round ahead of another (it has passed round r, and the
// other is still reading round r), never two. Where a round costs about a microsecond (planar), OpenMP's
// barrier took 200-420 ns and the flags another cache line from the other core; this took 75-200 ns with the
// flags. Waiting spins briefly, then yields the core between looks, so that on a busy machine a descheduled
// partner costs the others a yield, not a core.
inline TeamPost* posts_of_round(TeamPost* posts, int S, std::int64_t r) { return posts + (r & 1) * S; }

inline void meet(TeamPost* posts, int s, int S, std::int64_t r) {
    TeamPost* set = posts_of_round(posts, S, r);
    set[s].round.store(r, std::memory_order_release);
    for (int t = 0; t < S; ++t)
        for (int spins = 0; set[t].round.load(std::memory_order_acquire) < r; ++spins) {
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
