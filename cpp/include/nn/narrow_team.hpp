#pragma once
// A network whose every layer is narrow (narrow_layer.hpp: planar's [2, 4, 1]) trains on a team of threads
// that splits the examples, as the large networks do (parallel.hpp), but in one parallel region for a whole
// call of train and with one meeting per iteration (Network::train_narrow_team). An iteration of planar takes
// about a microsecond, so the large networks' two regions per iteration and a barrier per layer would cost more
// than the work. Here each thread takes its columns through backward, forming its parts of every layer's dW and
// db; at the meeting every thread adds the parts, in the same order, and takes the step into its own copy of the
// parameters (thread 0 into the network's), so that every copy is the same to the bit; then each takes its
// columns through forward with its copy, waiting for nobody.
//
// This file holds the team's buffers and each thread's passes; network.hpp runs the loop.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "nn/buffer.hpp"
#include "nn/layer.hpp"
#include "nn/loss.hpp"
#include "nn/matrix.hpp"
#include "nn/narrow_layer.hpp"
#include "nn/parallel.hpp"
#include "nn/vector_ops.hpp"

namespace nn {

// A narrow network trains on a team when each thread gets at least narrow_team_min_columns examples and
// narrow_team_min_bytes of work, counted as the bytes of each pass's activations (m n[l] values for each
// layer), three times over for a layer whose activation is tanh or sigmoid (the output's sigmoid, formed in
// backward, included). A pass over a vector of values costs about the same in float and double, hence bytes;
// the weight 3 fits one thread's times of [2, 4, 1] on 400 examples, 0.035-0.039 ns per byte so counted with
// relu and with tanh, float and double. The meeting costs 0.15-0.2 us per iteration where the two cores are
// close, but on this project's 2-core virtual machine they are often not (a cache line takes 2-3 times longer
// to cross, in spells of seconds), and there it cost 0.5-0.7 us: 16 KiB of work a thread (1.2 us of one
// thread's time with both) keeps the team ahead of one thread then too. Planar in float64 (24000 bytes a
// thread) then takes 1.00-1.06 us per iteration against 1.70-1.77 on one thread, and 1.43-1.53 where the cores
// are far apart; in float32 (12000 bytes) the team was slower there (1.00-1.07 against 0.72-0.79 us), and it
// keeps to one thread.
inline constexpr index narrow_team_min_columns = 64;
inline constexpr index narrow_team_min_bytes = 16384;

// The work of one example in an iteration of these layers, in narrow_team_min_bytes' terms.
template <class T>
index narrow_team_bytes_per_example(const std::vector<Layer<T>>& layers) {
    index bytes = 0;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const Activation g = l + 1 == layers.size() ? Activation::sigmoid : layers[l].g;
        const index weight = g == Activation::tanh || g == Activation::sigmoid ? 3 : 1;
        bytes += layers[l].n * weight * static_cast<index>(sizeof(T));
    }
    return bytes;
}

// A cache line of what a thread posts for a round (NarrowTeam::exchange): some of its values, and in the last
// 8 bytes the round they are for, with the thread's flags.
template <class T>
struct alignas(64) StampedLine {
    static constexpr index capacity = static_cast<index>((64 - sizeof(std::int64_t)) / sizeof(T));
    T values[capacity];
    std::atomic<std::int64_t> stamp{0};  // round * 4 + flags
};

template <class T>
struct NarrowTeam {
    // A thread's flags, posted with its parts.
    static constexpr unsigned not_finite = 1;  // its columns of Z[L] were not all finite after its forward pass
    static constexpr unsigned stopped = 2;     // (thread 0) train's `stop` said true

    int size = 1;                 // threads planned (1: no narrow team)
    index values = 0;             // of every layer's W then b, one layer after another (a block)
    index stride = 0;             // ... padded to whole cache lines
    index lines = 0;              // stamped lines a thread posts its parts in
    Buffer<T> params;             // (size - 1) blocks: the copies of the parameters threads 1.. step and read
    Buffer<T> parts;              // size blocks: each thread's parts of every dW and db, as its kernels write them
    Buffer<T> gathered;           // size x size blocks: each thread's copy of every thread's parts of the round
    std::vector<StampedLine<T>> posted;  // 2 x size x lines: the parts as posted, one set per parity of the round
    std::int64_t round = 0;       // the last round the team met in (rounds go on across calls of train)

    // Allocates the buffers for a team of `team` threads (call before train, never inside it).
    void begin(const std::vector<Layer<T>>& layers, int team) {
        const index line = static_cast<index>(64 / sizeof(T));
        size = team;
        values = offset(layers, static_cast<index>(layers.size()));
        stride = (values + line - 1) / line * line;
        lines = (values + StampedLine<T>::capacity - 1) / StampedLine<T>::capacity;
        params.assign(static_cast<std::size_t>((team - 1) * stride), T(0));
        parts.assign(static_cast<std::size_t>(team * stride), T(0));
        gathered.assign(static_cast<std::size_t>(team * team * stride), T(0));
        posted = std::vector<StampedLine<T>>(static_cast<std::size_t>(2 * team * lines));
    }

    T* parts_of(int s) { return parts.data() + s * stride; }
    const T* gathered_by(int s) const { return gathered.data() + s * size * stride; }

    // The team's meeting in round r (r >= 1, one more each time the team meets): thread s of S posts its parts
    // and flags, waits for every thread's, and gathers all the parts into its own block of `gathered` (thread
    // t's at t * stride); returns every thread's flags or'ed together. Each line posted carries its round, so
    // the data and the news that it is ready cross between the cores in one transfer of each line, where a
    // barrier and then the reading of the parts took two. Planar float64 (fits of 10^5 iterations alternating,
    // over 4 minutes each): 1.00-1.07 us per iteration either way where the cores were close, and 1.43-1.53
    // against 1.61-1.78 us where they were far apart (with a barrier of OpenMP's: 1.17 us and more). The lines
    // alternate between two sets by the round's parity: a thread can be one round ahead of another (it has
    // gathered round r, while the other is still reading it), never two.
    unsigned exchange(int s, int S, std::int64_t r, unsigned flags) {
        StampedLine<T>* set = posted.data() + (r & 1) * size * lines;
        constexpr index capacity = StampedLine<T>::capacity;
        StampedLine<T>* mine = set + s * lines;
        const T* from = parts_of(s);
        for (index k = 0; k < lines; ++k) {
            const index first = k * capacity, count = std::min(capacity, values - first);
            std::copy(from + first, from + first + count, mine[k].values);
            mine[k].stamp.store(r * 4 + flags, std::memory_order_release);
        }
        unsigned all = 0;
        T* to = gathered.data() + s * size * stride;
        for (int t = 0; t < S; ++t) {
            const StampedLine<T>* theirs = set + t * lines;
            // every line looked at in each pass, so that they all cross at once
            spin_until([&] {
                bool ready = true;
                for (index k = 0; k < lines; ++k)
                    ready = ready & (theirs[k].stamp.load(std::memory_order_acquire) >= r * 4);
                return ready;
            });
            all |= static_cast<unsigned>(theirs[0].stamp.load(std::memory_order_relaxed) & 3);
            for (index k = 0; k < lines; ++k) {
                const index first = k * capacity, count = std::min(capacity, values - first);
                std::copy(theirs[k].values, theirs[k].values + count, to + t * stride + first);
            }
        }
        return all;
    }

    // Where layer l's W starts in a block (its b follows it).
    static index offset(const std::vector<Layer<T>>& layers, index l) {
        index at = 0;
        for (index k = 0; k < l; ++k) at += layers[k].n * layers[k].n_prev + layers[k].n;
        return at;
    }

    // Thread s's copy of the parameters (null for thread 0, which uses the network's own).
    T* copy_of(int s) { return s == 0 ? nullptr : params.data() + (s - 1) * stride; }

    // Thread s's copy, from the network's parameters (at the start of a call).
    void take_copy(const std::vector<Layer<T>>& layers, T* mine) const {
        for (index l = 0; mine && l < static_cast<index>(layers.size()); ++l) {
            T* at = mine + offset(layers, l);
            std::copy(layers[l].W.begin(), layers[l].W.end(), at);
            std::copy(layers[l].b.begin(), layers[l].b.end(), at + layers[l].W.size());
        }
    }

    // Layer l's W and b on a thread: the network's own on thread 0 (mine null), else the thread's copy.
    static std::pair<const T*, const T*> params_of(const std::vector<Layer<T>>& layers, index l, const T* mine) {
        if (!mine) return {layers[l].W.data(), layers[l].b.data()};
        const T* W = mine + offset(layers, l);
        return {W, W + layers[l].n * layers[l].n_prev};
    }

    // Backward over the columns c of the activations A (n[l] x m each, with Z[L] in the last): dZ[L], then every
    // layer's dZ written over its A and, into `part`, this thread's parts of its dW and db (sums over c, scaled
    // by 1 / m).
    static void backward(const std::vector<Layer<T>>& layers, const T* mine, Matrix<const T> X, const T* Y,
                         std::vector<Buffer<T>>& A, index m, Slice c, T* part) {
        const index L = static_cast<index>(layers.size());
        cross_entropy_backward_columns<T>(A.back().data(), Y, layers.back().n, m, c.begin, c.size);
        const T inv_m = T(1) / static_cast<T>(m);
        for (index l = L - 1; l >= 0; --l) {
            const Layer<T>& layer = layers[l];
            const T* W = params_of(layers, l, mine).first;
            T* dW = part + offset(layers, l);
            const T* A_prev = l == 0 ? X.data + c.begin : A[l - 1].data() + c.begin;
            T* dZ_prev = l == 0 ? nullptr : A[l - 1].data() + c.begin;  // written over A[l-1]
            narrow_backward<T>(W, layer.n, layer.n_prev, A[l].data() + c.begin, m, A_prev, l == 0 ? X.ld : m, c.size,
                               inv_m, dW, dW + layer.n * layer.n_prev, l == 0 ? Activation::linear : layers[l - 1].g,
                               dZ_prev);
        }
    }

    // The step on thread s of S, from the parts it gathered: parameters - learning_rate (part 0 + part 1 + ...),
    // added in that order on every thread. Thread 0 writes the network's new parameters over dW and db and swaps
    // them in, as Network::step does (so undo_step works the same); the others step their copy in place.
    void step(std::vector<Layer<T>>& layers, int s, int S, T* mine, T learning_rate) const {
        const T* round_parts = gathered_by(s);
        auto descend_by_parts = [&](const T* p, const T* part, T* out, index count) {
            for (index k = 0; k < count; ++k) {
                T sum = part[k];
                for (int t = 1; t < S; ++t) sum += part[t * stride + k];
                out[k] = p[k] - learning_rate * sum;
            }
        };
        for (index l = 0; l < static_cast<index>(layers.size()); ++l) {
            Layer<T>& layer = layers[l];
            const index w = layer.n * layer.n_prev, at = offset(layers, l);
            if (s == 0) {
                descend_by_parts(layer.W.data(), round_parts + at, layer.dW.data(), w);
                descend_by_parts(layer.b.data(), round_parts + at + w, layer.db.data(), layer.n);
                layer.W.swap(layer.dW);
                layer.b.swap(layer.db);
            } else {
                descend_by_parts(mine + at, round_parts + at, mine + at, w + layer.n);
            }
        }
    }

    // Forward over the columns c with a thread's parameters; returns whether its columns of Z[L] are finite.
    static bool forward(const std::vector<Layer<T>>& layers, const T* mine, Matrix<const T> X,
                        std::vector<Buffer<T>>& A, index m, Slice c) {
        const index L = static_cast<index>(layers.size());
        const T* A_prev = X.data + c.begin;
        index ld_A = X.ld;
        for (index l = 0; l < L; ++l) {
            const Layer<T>& layer = layers[l];
            const auto [W, b] = params_of(layers, l, mine);
            T* out = A[l].data() + c.begin;
            narrow_forward<T>(W, b, layer.n, layer.n_prev, A_prev, ld_A, c.size,
                              l + 1 == L ? Activation::linear : layer.g, out, m);
            A_prev = out;
            ld_A = m;
        }
        bool finite = true;
        for (index i = 0; i < layers.back().n; ++i)
            finite = finite && all_finite<T>(A.back().data() + i * m + c.begin, c.size);
        return finite;
    }
};

}  // namespace nn
