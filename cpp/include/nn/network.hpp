#pragma once
// The L-layer network: parameters, gradients, a workspace sized for m examples, forward, cost, backward,
// the gradient-descent step, and the training loop that repeats them without allocating.
//
// Layer l = 1..L is layers[l-1]. Hidden layers use their own activation; the output layer is sigmoid with
// binary cross-entropy, so backward starts from dZ[L] = A[L] - Y.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/activations.hpp"
#include "nn/blas.hpp"
#include "nn/buffer.hpp"
#include "nn/gram.hpp"
#include "nn/layer.hpp"
#include "nn/loss.hpp"
#include "nn/matrix.hpp"
#include "nn/narrow_layer.hpp"
#include "nn/narrow_team.hpp"
#include "nn/parallel.hpp"
#include "nn/streamed_first_layer.hpp"
#include "nn/vector_ops.hpp"

namespace nn {

// Buffers for one m, allocated once. A[l] holds g(Z[l]) after forward and is overwritten with dZ[l] by
// backward (A[l] is no longer needed once dW[l+1] is formed), so each layer costs one (n x m) buffer; the
// output layer's buffer holds Z[L] (the stable cost needs Z, and A[L] = sigmoid(Z[L]) is folded into dZ[L]).
// dA[l-1] = W[l]^T dZ[l] is formed a block of columns at a time, so it needs only a (max n[l-1] x block)
// buffer: the workspace adds little beyond the activations that backpropagation must keep.
// Bytes of dA formed at a time: a block stays in cache between the gemm that writes it and the pass that reads
// it, and the workspace stays at little more than the activations backpropagation must keep. When a whole dA
// costs no more than an eighth of those activations, it is formed in one piece instead: one gemm per layer
// rather than many small ones (8% of an iteration on the deep [256]*9 network at 2 threads). (Blocks of 1 MiB
// measured no faster on wide within the noise, and cost 1.5 MB more per fit.) 128 KiB, not 256: wide's
// activations are 0.98 of X, and with 256 KiB blocks (512 KB of dA on two threads) its float32 fit added
// 25.47-25.69 MB for a 25.69 MB X, once more than X; with 128 KiB 25.28-25.40 MB, for 1-1.5% more time per
// iteration (bench/memprobe.py, 8 and 6 runs; fits of 4 iterations, 4 runs alternating).
inline constexpr index dA_block_bytes = index(1) << 17;
inline constexpr index dA_whole_fraction = 8;

// Networks whose training loop does fewer flops per iteration than this keep to one thread: splitting them
// would cost more in meeting than it gains (see column_slices).
inline constexpr double slice_min_flops = double(1 << 26);
inline constexpr index slice_min_columns = 128;

// Below this many flops per iteration the whole training loop keeps OpenBLAS at one thread: its threads cost
// more in waking and meeting than they save on such small products. Measured at 1 against 2 threads
// (float64): [12288, 1] and [12288, 20, 7, 5, 1] on 209 examples in Gram space (0.09 and 2 Mflop) took 5.3 and
// 37.5 us against 6.0 and 40.4, [64, 16, 1] on 256 examples (1.6 Mflop) 17.7 against 19.9 us, while
// [128, 32, 1] on 512 (12.7 Mflop) already gained from the second thread (170 against 139 us).
inline constexpr double one_thread_max_flops = double(1 << 22);

// A first layer is streamed (streamed_first_layer.hpp) only when it does at least this share of an iteration's
// flops: the rest of the network then runs with OpenBLAS at one thread.
inline constexpr double streamed_min_share = 0.9;

template <class T>
struct Workspace {
    index m = 0;
    int slices = 1;                 // threads the examples are split across in train (see parallel.hpp)
    index block = 0;                // columns of dA formed at a time
    std::vector<Buffer<T>> A;       // A[l-1] is A[l], (n[l] x m), for l = 1..L
    Buffer<T> dA;                   // one (max n[l-1] x block) buffer per slice
    Buffer<T> dZ_sums;              // with a team, one (max n[l-1]) per slice: row sums of its columns of a dZ
    GramFirstLayer<T> gram;         // when active, layer 1 runs in Gram space (see gram.hpp)
    bool forward_ready = false;     // A holds the forward pass of the current parameters
    bool streamed = false;          // train runs W[1]'s step and W[1] X as one pass over X (streamed_first_layer.hpp)
    bool Z1_ready = false;          // ... which has left the new W[1] X in A[1] for forward
    Buffer<T> Z1_parts;             // each thread's part of W[1] X (n[1] x m), streamed_part_stride apart
    Buffer<T> dZT;                  // dZ[1]^T, padded (streamed_units_padding), for a streamed layer of units
    bool one_thread = false;        // train keeps OpenBLAS at one thread (set by plan_threads)
    // With a team (slices > 1): each thread forms dW[l], db[l] over its own columns, threads 1.. into parts
    // held in memory that is dead at that point, and the team sums them (see gradient_parts_place), instead
    // of sharing each product over all m columns. A thread then packs only its own columns of dZ[l] and
    // A[l-1] for OpenBLAS (the shared split packed all of A[l-1] in every thread), and needs nobody else's
    // columns, so one barrier per layer (before the sum) replaces two. On deep (C++ driver, 2 threads, medians
    // of 6 alternating runs) an iteration took 66.2 against 68.1 ms in float64 and 29.9 against 31.9 ms in
    // float32; OpenBLAS's packing went from 17% of the cycles to 14%. (Set by make_workspace; false shares
    // every product, as the tests do to cover both.)
    bool partial_gradients = false;
    int backward_threads = 1;       // the team the last backward pass ran on (the runtime may give fewer than asked)
    NarrowTeam<T> team;             // a network of narrow layers trains on a team of its own when team.size > 1
};

// What a call of Network::train did.
struct TrainResult {
    double cost = 0.0;         // cost of the parameters reached (finite unless diverged)
    std::int64_t done = 0;     // steps taken in this call (a step undone after a non-finite cost included)
    bool diverged = false;     // the parameters reached after `done` steps gave a non-finite cost
    bool reverted = false;     // ... and the step that led there was undone
};

template <class T>
class Network {
   public:
    Network(std::vector<index> layer_dims, std::vector<Activation> activations) : dims_(std::move(layer_dims)) {
        if (dims_.size() < 2) throw std::invalid_argument("layer_dims: need at least two sizes (input and output)");
        for (index n : dims_)
            if (n <= 0) throw std::invalid_argument("layer_dims: every size must be positive");
        if (activations.size() != dims_.size() - 1)
            throw std::invalid_argument("activations: need one per layer");
        if (activations.back() != Activation::sigmoid)
            throw std::invalid_argument("activations: the output layer must be sigmoid (binary cross-entropy)");
        for (std::size_t l = 1; l < dims_.size(); ++l) {
            Layer<T> layer{dims_[l], dims_[l - 1], activations[l - 1], {}, {}, {}, {}};
            const std::size_t w = static_cast<std::size_t>(layer.n * layer.n_prev);
            layer.W.assign(w, T(0));
            layer.dW.assign(w, T(0));
            layer.b.assign(static_cast<std::size_t>(layer.n), T(0));
            layer.db.assign(static_cast<std::size_t>(layer.n), T(0));
            layers_.push_back(std::move(layer));
        }
    }

    const std::vector<index>& layer_dims() const { return dims_; }
    std::vector<Layer<T>>& layers() { return layers_; }
    const std::vector<Layer<T>>& layers() const { return layers_; }
    index L() const { return static_cast<index>(layers_.size()); }

    // Buffers for m examples, trained by `slices` threads (column_slices gives the number worth using).
    Workspace<T> make_workspace(index m, int slices = 1) const {
        Workspace<T> ws;
        ws.m = m;
        ws.slices = std::max(1, slices);
        index max_n_prev = 1, activations = 0;
        for (const auto& layer : layers_) {
            ws.A.emplace_back(static_cast<std::size_t>(layer.n * m));
            activations += layer.n * m;
            if (&layer != &layers_.front()) max_n_prev = std::max(max_n_prev, layer.n_prev);
        }
        index widest = 1;
        for (int k = 0; k < ws.slices; ++k) widest = std::max(widest, slice(m, k, ws.slices).size);
        ws.block = max_n_prev * m * dA_whole_fraction <= activations
                       ? widest
                       : std::min(widest,
                                  std::max<index>(16, dA_block_bytes / static_cast<index>(sizeof(T)) / max_n_prev));
        if (L() > 1) ws.dA.resize(static_cast<std::size_t>(max_n_prev * ws.block * ws.slices));
        if (L() > 1 && ws.slices > 1) ws.dZ_sums.resize(static_cast<std::size_t>(max_n_prev * ws.slices));
        ws.partial_gradients = ws.slices > 1;
        return ws;
    }

    // Where threads 1.. of the team put their parts of layer l's gradients (0-based l; the layer is layers_[l]).
    // The parts cost no memory, as wide's fit has none to spare (it must add less than X, and its activations
    // alone are 0.98 X); they go into memory that backward no longer needs:
    //  - above: the buffer of the layer above, ws.A[l+1]. It holds that layer's dZ, which is dead once every
    //    thread has formed its columns of layer l's dZ from it, until the next forward;
    //  - below: the layer below's dW and db. Until backward reaches that layer they hold only the parameters
    //    before the last step, which undo_step no longer needs once backward has begun.
    // Where neither has room (with more threads), the layer shares each product over all columns instead.
    // deep's [256] * 9 on 2048 examples takes above for its first seven layers and below for the last two,
    // wide's [784, 512, 256, 1] on 8192 above for its first layer and below for the other two.
    enum class PartsIn { nowhere, above, below };

    PartsIn gradient_parts_place(index l, const Workspace<T>& ws) const {
        // (plan_threads never gives a team the Gram or the streamed first layer, whose dW[1] is formed elsewhere)
        if (!ws.partial_gradients || ws.gram.active || ws.streamed) return PartsIn::nowhere;
        const Layer<T>& layer = layers_[l];
        const index others = ws.slices - 1;
        if (l + 1 < L() && others * (layer.n * layer.n_prev + layer.n) <= static_cast<index>(ws.A[l + 1].size()))
            return PartsIn::above;
        if (l > 0 && others * layer.n * layer.n_prev <= static_cast<index>(layers_[l - 1].dW.size()) &&
            others * layer.n <= static_cast<index>(layers_[l - 1].db.size()))
            return PartsIn::below;
        return PartsIn::nowhere;
    }

    // Where layer l's parts go in a backward pass run by a team of S threads (nowhere for a team of one).
    PartsIn parts_place(index l, const Workspace<T>& ws, int S) const {
        return S > 1 ? gradient_parts_place(l, ws) : PartsIn::nowhere;
    }

    // Whether layer 1 can be streamed on X (streamed_first_layer.hpp): one unit or a few, X stored by rows, a
    // thread's part of Z[1] small enough to stay in cache next to a block of X (streamed_max_m,
    // streamed_units_max_part_bytes), X big enough to be worth a team, and layer 1 nearly all of the work
    // (OpenBLAS stays at one thread through the loop, see train()).
    bool streamable(Matrix<const T> X, bool gram) const {
        const index n1 = layers_[0].n;
        if (gram || X.col_major || X.rows < 64 || X.rows * X.cols < (index(1) << 16)) return false;
        if (n1 == 1 ? X.cols > streamed_max_m
                    : n1 > streamed_max_units || !streamed_units_supported() ||
                          n1 * X.cols * static_cast<index>(sizeof(T)) > streamed_units_max_part_bytes)
            return false;
        return layer_flops(0, double(X.cols), false) >= streamed_min_share * iteration_flops(X, false);
    }

    // Train with layer 1 streamed from now on (allocates its buffers: call before train, never inside it).
    void begin_streamed(Workspace<T>& ws) const {
        ws.streamed = true;
        ws.Z1_ready = false;
        const int threads = std::max(1, blas::OneThreadHeld::wanted_threads());
        const index n1 = layers_[0].n;
        ws.Z1_parts.assign(static_cast<std::size_t>(threads * streamed_part_stride<T>(n1 * ws.m)), T(0));
        if (n1 > 1) ws.dZT.assign(static_cast<std::size_t>(ws.m * streamed_units_padding<T>(n1)), T(0));
    }

    // Flops of layer l (0-based) in one training iteration on m examples: forward, dW and dA (no dA[0]), with
    // layer 1 either a product with X or, in Gram space, its update dZ[1] G (gram.hpp).
    double layer_flops(index l, double m, bool gram) const {
        const Layer<T>& layer = layers_[l];
        const double product = 2.0 * double(layer.n) * double(layer.n_prev) * m;
        if (l > 0) return 3.0 * product;
        return gram ? 2.0 * double(layer.n) * m * m : 2.0 * product;
    }

    double iteration_flops(Matrix<const T> X, bool gram) const {
        double flops = 0;
        for (index l = 0; l < L(); ++l) flops += layer_flops(l, double(X.cols), gram);
        return flops;
    }

    // How many threads to split the m examples of X across when training on it: as many as OpenBLAS may use,
    // when every iteration does enough work and each thread gets enough columns. One when the first layer runs
    // in Gram space or as a pair of split products (both are whole-matrix shortcuts that already keep the
    // cores busy with OpenBLAS's threads).
    int column_slices(Matrix<const T> X, bool gram) const {
        const int threads = blas::OneThreadHeld::wanted_threads();
        if (threads < 2 || gram || blas::worth_splitting_k<T>(layers_[0].W_mat(), X)) return 1;
        if (iteration_flops(X, gram) < slice_min_flops) return 1;
        return static_cast<int>(std::clamp<index>(X.cols / slice_min_columns, 1, threads));
    }

    // The workspace for training on X, with the threads planned: a team of column slices, layer 1 streamed,
    // or (for tiny iterations) OpenBLAS kept at one thread.
    Workspace<T> plan_threads(Matrix<const T> X, bool gram) const {
        const int team = narrow_team_size(X, gram);
        const bool streamed = team == 1 && streamable(X, gram);
        Workspace<T> ws = make_workspace(X.cols, streamed || team > 1 ? 1 : column_slices(X, gram));
        if (streamed) begin_streamed(ws);
        if (team > 1) ws.team.begin(layers_, team);
        ws.one_thread = iteration_flops(X, gram) < one_thread_max_flops;
        return ws;
    }

    // The team for training on X when every layer is narrow (narrow_layer.hpp) and X a row-major input in the
    // primal: as many threads as OpenBLAS may use, each with enough examples and work (narrow_team_min_columns,
    // narrow_team_min_bytes); 1 for none.
    int narrow_team_size(Matrix<const T> X, bool gram) const {
        const int threads = blas::OneThreadHeld::wanted_threads();
        if (threads < 2 || gram || X.col_major || !narrow_layers_supported()) return 1;
        for (const auto& layer : layers_)
            if (!narrow_layer_fits(layer.n, layer.n_prev)) return 1;
        const index bytes = X.cols * narrow_team_bytes_per_example(layers_);
        return static_cast<int>(
            std::clamp<index>(std::min(X.cols / narrow_team_min_columns, bytes / narrow_team_min_bytes), 1, threads));
    }

    // A[l] = g(W[l] A[l-1] + b[l]) for l = 1..L-1, and Z[L] = W[L] A[L-1] + b[L] in the last buffer.
    // With the Gram first layer, W[1] X comes from the Gram state instead of a product with X.
    // With ws.slices > 1 each thread of the team takes its columns through every layer (parallel.hpp).
    void forward(Matrix<const T> X, Workspace<T>& ws) const {
        check_input(X, ws);
        if (ws.slices > 1) {
            blas::OneThreadHeld one;  // the team replaces OpenBLAS's threads
#pragma omp parallel num_threads(ws.slices)
            forward_columns(X, ws, my_slice(ws.m));
        } else {
            forward_columns(X, ws, {0, ws.m});
        }
    }

    void forward_columns(Matrix<const T> X, Workspace<T>& ws, Slice c) const {
        const bool whole = c.size == ws.m;
        Matrix<const T> A_prev = X.block(0, c.begin, X.rows, c.size);
        for (index l = 0; l < L(); ++l) {
            const Layer<T>& layer = layers_[l];
            Matrix<T> A(ws.A[l].data() + c.begin, layer.n, c.size, false, ws.m);
            // the output layer stops at Z[L]
            const Activation g = l + 1 == L() ? Activation::linear : layer.g;
            if (whole && narrow(l, A_prev, ws)) {  // product, bias and activation in one pass
                narrow_forward<T>(layer.W.data(), layer.b.data(), layer.n, layer.n_prev, A_prev.data, A_prev.ld,
                                  ws.m, g, A.data, ws.m);
                A_prev = A;
                continue;
            }
            if (l == 0 && ws.Z1_ready)  // streamed_step has formed W[1] X already (only ever whole)
                ws.Z1_ready = false;
            else if (l == 0 && ws.gram.active)  // only ever whole: column_slices keeps the Gram path on one thread
                ws.gram.pre_activation(A.data);
            else if (l == 0 && whole && A.size() <= static_cast<index>(ws.dA.size()) &&
                     blas::worth_splitting_k<T>(layer.W_mat(), A_prev))
                blas::gemm_split_k<T>(layer.W_mat(), A_prev, A, ws.dA.data());  // dA is free during forward
            else
                blas::gemm<T>(T(1), layer.W_mat(), A_prev, T(0), A);
            // bias and activation in one pass
            if (whole)
                activation_forward<T>(g, A.data, layer.b.data(), A.data, layer.n, ws.m);
            else
                for (index i = 0; i < layer.n; ++i)
                    activation_forward<T>(g, A.data + i * ws.m, layer.b.data() + i, A.data + i * ws.m, 1, c.size);
            A_prev = A;
        }
    }

    // A[L] = sigmoid(Z[L]) in place, after forward: the network's output probabilities.
    T* output(Workspace<T>& ws) const {
        T* ZL = ws.A.back().data();
        activation_forward<T>(layers_.back().g, ZL, nullptr, ZL, 1, output_count(ws));
        return ZL;
    }

    // Probabilities A[L] (n[L] x m, row-major, into `out`) and, if Y is given, the cost, for any number of
    // examples: the columns of X go through a workspace of at most `block` columns at a time, so memory stays
    // bounded however large X is.
    double evaluate(Matrix<const T> X, const T* Y, T* out, index block = 4096) const {
        const index m = X.cols, nL = layers_.back().n;
        Workspace<T> ws = make_workspace(std::min(m, block));
        const index width = ws.m;
        double total = 0.0;
        for (index j0 = 0; j0 < m; j0 += width) {
            const index cols = std::min(width, m - j0);
            ws.m = cols;
            forward(X.block(0, j0, X.rows, cols), ws);
            if (Y) {
                // the same terms as cost(), gathered row by row from the (n[L] x m) labels
                for (index i = 0; i < nL; ++i)
                    total += cross_entropy_from_logits<T>(ws.A.back().data() + i * cols, Y + i * m + j0, cols, 1);
            }
            if (out) {
                const T* A = output(ws);
                for (index i = 0; i < nL; ++i) std::copy(A + i * cols, A + (i + 1) * cols, out + i * m + j0);
            }
        }
        return total / static_cast<double>(m);
    }

    // Cost of the last forward pass.
    double cost(const Workspace<T>& ws, const T* Y) const {
        return cross_entropy_from_logits<T>(ws.A.back().data(), Y, output_count(ws), ws.m);
    }

    // Gradients dW[l], db[l] of the last forward pass. Overwrites the activations in ws with dZ.
    // With ws.slices > 1 the team shares each dW[l] and takes its own columns of each dZ[l-1].
    void backward(Matrix<const T> X, const T* Y, Workspace<T>& ws) { backward(X, Y, ws, nullptr); }

    // backward() then step(), as train makes them. With a team, a layer whose gradient is summed from the
    // threads' parts takes its step in that sum, on every core while its dW is in cache, instead of in one
    // thread's pass over all the parameters afterwards while the others wait (same bits: add_and_descend).
    // Deep [256] * 9 on 2048 examples, 2 threads, MKL, one process alternating with backward-step-forward, 30
    // pairs, median of the ratios: 0.984-0.985 of the time in float64, 0.990-0.997 in float32; wide 0.98-1.00.
    void backward_and_step(Matrix<const T> X, const T* Y, T learning_rate, Workspace<T>& ws) {
        backward(X, Y, ws, &learning_rate);
        for (index l = 0; l < L(); ++l) {
            if (parts_place(l, ws, ws.backward_threads) != PartsIn::nowhere) {
                layers_[l].W.swap(layers_[l].dW);  // stepped already: the new parameters are in dW and db
                layers_[l].b.swap(layers_[l].db);
            } else {
                step_weights(l, learning_rate, ws);
                step_bias(l, learning_rate);
            }
        }
    }

    // backward, and with `learning_rate` the step of the layers whose parts the team sums (backward_and_step).
    void backward(Matrix<const T> X, const T* Y, Workspace<T>& ws, const T* learning_rate) {
        check_input(X, ws);
        if (ws.slices > 1) {
            blas::OneThreadHeld one;
#pragma omp parallel num_threads(ws.slices)
            backward_team(X, Y, ws, learning_rate);
        } else {
            backward_team(X, Y, ws, learning_rate);
        }
    }

    // The body of backward for each thread of the team (outside a parallel region: a team of one, whose
    // barriers cost nothing).
    void backward_team(Matrix<const T> X, const T* Y, Workspace<T>& ws, const T* learning_rate) {
        const int s = omp_get_thread_num(), S = omp_get_num_threads();
        if (s == 0) ws.backward_threads = S;  // read only after the team has ended
        const Slice c = slice(ws.m, s, S);
        T* dA_buf = ws.dA.data() + s * (ws.dA.size() / ws.slices);  // this thread's block of dA
        // dZ[L] = sigmoid(Z[L]) - Y
        cross_entropy_backward_columns<T>(ws.A.back().data(), Y, layers_.back().n, ws.m, c.begin, c.size);
        // Whether the team must meet before a layer's parts are written: after a shared layer, threads may still
        // be reading the dZ in the buffer that takes the parts; after parts summed in dW[l-1] and db[l-1], thread
        // 0 must not write its share of layer l-1 there before the sum is done.
        bool meet = true;
        // A thread's part of db[l] is the row sums of its columns of dZ[l]; where layer l sums parts, the pass
        // that forms those columns (backward_to_previous of the layer above, given `sums_below`) sums them too,
        // into `sums`, so that they are not read again for it. Only the top layer's dZ has no pass above.
        T* sums = ws.dZ_sums.empty() ? nullptr : ws.dZ_sums.data() + s * (ws.dZ_sums.size() / ws.slices);
        for (index l = L() - 1; l >= 0; --l) {
            const PartsIn place = parts_place(l, ws, S);
            T* sums_below = l > 0 && parts_place(l - 1, ws, S) != PartsIn::nowhere ? sums : nullptr;
            if (place != PartsIn::nowhere) {
                if (meet) {
#pragma omp barrier
                }
                // this thread's columns of dZ[l] and A[l-1] only ...
                gradient_part(l, X, ws, s, c, place, l + 1 < L() ? sums : nullptr);
                if (l > 0) backward_to_previous(l, ws, c, dA_buf, sums_below);
#pragma omp barrier
                sum_gradient_parts(l, ws, s, S, place, learning_rate);  // ... so the team meets only to add them
                meet = place == PartsIn::below;
                continue;
            }
#pragma omp barrier
            if (S == 1 && backward_narrow(l, X, ws)) continue;
            weight_gradients(l, X, ws, s, S);  // reads every column of dZ[l] and A[l-1] ...
            if (l == 0) break;
#pragma omp barrier
            backward_to_previous(l, ws, c, dA_buf, sums_below);  // ... then overwrites A[l-1]
            meet = true;
        }
    }

    // Whether layer l (0-based) on input A_prev (X for l = 0) runs through narrow_layer.hpp's one-pass kernels:
    // it has an instance and this CPU the vectors, and layer 1 is a plain product with a row-major X (not in
    // Gram space or streamed). Whole iterations of [2, 4, 1] tanh, medians of 7 runs alternating with the general
    // path (C++ driver, one thread), general -> narrow backward -> narrow forward and backward:
    //   m = 400 (planar):   float64 3.30 -> 2.89 -> 2.87 us,  float32 1.53 -> 1.27 -> 1.22 us;
    //   m = 4000:           float64 48.0 -> 31.9 -> 31.9 us,  float32 16.5 -> 13.9 -> 12.2 us;
    //   m = 100000:         float64 1812 -> 1417 -> 1400 us,  float32  656 ->  497 ->  473 us.
    // In float64 tanh is most of what is left (1600 of them per iteration on planar, ~1 ns each). Other narrow
    // networks, general -> narrow, medians of 5 alternating runs, float64 / float32 ([2, 8, 1] relu m = 400,
    // [4, 4, 4, 1] tanh m = 1000, [8, 2, 2, 1] relu m = 1000, [3, 5, 3, 1] sigmoid m = 300): with AVX-512
    // -32 / -25%, -4 / -17%, -17 / -31%, -14 / -13%; with the AVX2 build (same machine, AVX-512 switched off)
    // -20 / -20%, 0 / -3%, -18 / -33%, -15 / -7%, and planar -13 / -12%.
    bool narrow(index l, Matrix<const T> A_prev, const Workspace<T>& ws) const {
        const Layer<T>& layer = layers_[l];
        if (!narrow_layers_supported() || !narrow_layer_fits(layer.n, layer.n_prev)) return false;
        return l > 0 || !(ws.gram.active || ws.streamed || A_prev.col_major);
    }

    // weight_gradients and backward_to_previous of a narrow layer in one pass; false (nothing done) if the
    // layer is not narrow. l is 0-based.
    bool backward_narrow(index l, Matrix<const T> X, Workspace<T>& ws) {
        Layer<T>& layer = layers_[l];
        const Matrix<const T> A_prev = input_of(l, X, ws);
        if (!narrow(l, A_prev, ws)) return false;
        narrow_backward<T>(layer.W.data(), layer.n, layer.n_prev, ws.A[l].data(), ws.m, A_prev.data, A_prev.ld,
                           ws.m, T(1) / static_cast<T>(ws.m), layer.dW.data(), layer.db.data(),
                           l == 0 ? Activation::linear : layers_[l - 1].g, l == 0 ? nullptr : ws.A[l - 1].data());
        return true;
    }

    // Layer l's input A[l-1] (0-based l; X for the first layer), all m columns.
    Matrix<const T> input_of(index l, Matrix<const T> X, const Workspace<T>& ws) const {
        return l == 0 ? X : Matrix<const T>(ws.A[l - 1].data(), layers_[l].n_prev, ws.m);
    }

    // Part s of S of dW[l] = dZ[l] A[l-1]^T / m (a range of its rows or, when it has more columns than rows,
    // of its columns) and of db[l] = row sums of dZ[l] / m (a range of rows). l is 0-based.
    void weight_gradients(index l, Matrix<const T> X, Workspace<T>& ws, int s, int S) {
        Layer<T>& layer = layers_[l];
        const T inv_m = T(1) / static_cast<T>(ws.m);
        Matrix<const T> dZ(ws.A[l].data(), layer.n, ws.m);
        const Slice r = slice(layer.n, s, S);
        row_sums<T>(dZ.block(r.begin, 0, r.size, ws.m), inv_m, layer.db.data() + r.begin);
        if (l == 0 && ws.gram.active) return;  // dW[1] is never formed: step() folds dZ[1] into the Gram state
        if (l == 0 && ws.streamed) return;     // ... or streamed_step() forms it on its way to the next W[1] X
        Matrix<const T> A_prev = input_of(l, X, ws);
        Matrix<T> dW(layer.dW.data(), layer.n, layer.n_prev);
        if (layer.n >= layer.n_prev) {  // (with S = 1 either part is the whole dW)
            blas::gemm<T>(inv_m, dZ.block(r.begin, 0, r.size, ws.m), A_prev.t(), T(0),
                          dW.block(r.begin, 0, r.size, layer.n_prev));
        } else {
            const Slice k = slice(layer.n_prev, s, S);
            blas::gemm<T>(inv_m, dZ, A_prev.block(k.begin, 0, k.size, ws.m).t(), T(0),
                          dW.block(0, k.begin, layer.n, k.size));
        }
    }

    // dW[l] = dZ[l] A[l-1]^T / m and db[l] over thread s's columns c only: thread 0's into the layer's dW and db,
    // the others' into their part (see gradient_parts_place). `sums`, if given, are the row sums of those
    // columns of dZ[l], formed with them.
    void gradient_part(index l, Matrix<const T> X, Workspace<T>& ws, int s, Slice c, PartsIn place,
                       const T* sums) {
        Layer<T>& layer = layers_[l];
        const T inv_m = T(1) / static_cast<T>(ws.m);
        const GradientPart part = gradient_part_of(ws, l, s, place);
        Matrix<const T> dZ(ws.A[l].data() + c.begin, layer.n, c.size, false, ws.m);
        if (sums)
            for (index i = 0; i < layer.n; ++i) part.db[i] = sums[i] * inv_m;
        else
            row_sums<T>(dZ, inv_m, part.db);
        const Matrix<const T> A_prev = input_of(l, X, ws).block(0, c.begin, layer.n_prev, c.size);
        blas::gemm<T>(inv_m, dZ, A_prev.t(), T(0), Matrix<T>(part.dW, layer.n, layer.n_prev));
    }

    struct GradientPart {
        T* dW;
        T* db;
    };

    // Thread s's part of layer l's gradients: thread 0's is the layer's own dW and db.
    GradientPart gradient_part_of(Workspace<T>& ws, index l, int s, PartsIn place) {
        Layer<T>& layer = layers_[l];
        if (s == 0) return {layer.dW.data(), layer.db.data()};
        const index w = layer.n * layer.n_prev;
        if (place == PartsIn::above) {  // dW, then db
            T* p = ws.A[l + 1].data() + (s - 1) * (w + layer.n);
            return {p, p + w};
        }
        Layer<T>& below = layers_[l - 1];
        return {below.dW.data() + (s - 1) * w, below.db.data() + (s - 1) * layer.n};
    }

    // dW[l] += the other threads' parts, and db[l] likewise: thread s adds its share of the rows. With a
    // learning rate, the last part's sum also takes the step: dW[l] = W[l] - learning_rate (dW[l] + part).
    void sum_gradient_parts(index l, Workspace<T>& ws, int s, int S, PartsIn place, const T* learning_rate) {
        Layer<T>& layer = layers_[l];
        const Slice r = slice(layer.n, s, S);
        const index w = r.size * layer.n_prev;
        T* dW = layer.dW.data() + r.begin * layer.n_prev;
        T* db = layer.db.data() + r.begin;
        for (int t = 1; t < S; ++t) {
            const GradientPart part = gradient_part_of(ws, l, t, place);
            const T* part_dW = part.dW + r.begin * layer.n_prev;
            const T* part_db = part.db + r.begin;
            if (learning_rate && t == S - 1) {
                add_and_descend<T>(layer.W.data() + r.begin * layer.n_prev, *learning_rate, dW, part_dW, w);
                add_and_descend<T>(layer.b.data() + r.begin, *learning_rate, db, part_db, r.size);
            } else {
                add<T>(dW, part_dW, dW, w);
                add<T>(db, part_db, db, r.size);
            }
        }
    }

    // dZ[l-1] = (W[l]^T dZ[l]) * g'(Z[l-1]) over the columns c, a block of them at a time formed in dA_buf,
    // written over A[l-1] (which backward no longer needs once dW[l] is formed). l is 0-based here:
    // layers_[l] is layer l+1. With `sums`, also the row sums of those columns of dZ[l-1] (n[l-1] of them).
    void backward_to_previous(index l, Workspace<T>& ws, Slice c, T* dA_buf, T* sums) const {
        const Layer<T>& layer = layers_[l];
        const Activation g_prev = layers_[l - 1].g;
        T* dZ = ws.A[l].data();
        T* A_prev = ws.A[l - 1].data();
        if (sums) std::fill(sums, sums + layer.n_prev, T(0));
        for (index j0 = c.begin; j0 < c.begin + c.size; j0 += ws.block) {
            const index cols = std::min(ws.block, c.begin + c.size - j0);
            Matrix<T> dA(dA_buf, layer.n_prev, cols);
            blas::gemm<T>(T(1), layer.W_mat().t(), Matrix<const T>(dZ + j0, layer.n, cols, false, ws.m), T(0), dA);
            for (index i = 0; i < layer.n_prev; ++i) {
                T* a = A_prev + i * ws.m + j0;
                if (sums)
                    sums[i] += activation_backward_from_output_sum<T>(g_prev, dA.data + i * cols, a, a, cols);
                else
                    activation_backward_from_output<T>(g_prev, dA.data + i * cols, a, a, cols);
            }
        }
    }

    // Gradient descent: W -= learning_rate dW, b -= learning_rate db. The new values are written over the
    // gradients (no longer needed) and the buffers swapped, so dW and db then hold the parameters before the
    // step, at no cost in memory, until the next backward pass; undo_step() returns to them exactly.
    // (An optimiser with state, or an allreduce of the gradients, goes between backward and step.)
    // With the Gram first layer, W[1]'s step is recorded as S += dZ[1] (dZ[1] is still in A[1]).
    void step(T learning_rate, Workspace<T>& ws) {
        for (index l = 0; l < L(); ++l) {
            step_weights(l, learning_rate, ws);
            step_bias(l, learning_rate);
        }
    }

    // step() for a streamed layer 1 (streamed_first_layer.hpp): W[1]'s update comes from one pass over X that
    // also forms the next W[1] X, left in A[1] for forward. dZ[1] is still in A[1] until then. The new W[1]
    // goes to the dW buffer and the buffers are swapped, as in step(), so undo_step() works the same.
    void streamed_step(Matrix<const T> X, T learning_rate, Workspace<T>& ws) {
        for (index l = 0; l < L(); ++l) {
            if (l > 0) step_weights(l, learning_rate, ws);
            step_bias(l, learning_rate);
        }
        Layer<T>& layer = layers_[0];
        const index n1 = layer.n, part = n1 * ws.m, stride = streamed_part_stride<T>(part);
        const int S = static_cast<int>(ws.Z1_parts.size() / static_cast<std::size_t>(stride));
        T* dZ1 = ws.A[0].data();
        if (n1 > 1) streamed_units_transpose<T>(dZ1, n1, ws.m, ws.dZT.data());
        int team = 1;  // the threads that really ran (the runtime may give fewer than asked): only their parts count
#pragma omp parallel num_threads(S)
        {
            const int s = omp_get_thread_num();
#pragma omp single nowait
            team = omp_get_num_threads();
            const Slice r = slice(X.rows, s, omp_get_num_threads());
            T* Z_part = ws.Z1_parts.data() + s * stride;
            if (n1 == 1)
                streamed_rows<T>(X.data, X.ld, ws.m, r.begin, r.begin + r.size, dZ1, learning_rate,
                                 layer.W.data(), layer.dW.data(), Z_part);
            else
                streamed_rows_units<T>(X.data, X.ld, ws.m, r.begin, r.begin + r.size, ws.dZT.data(), n1,
                                       learning_rate, layer.W.data(), layer.dW.data(), X.rows, Z_part);
        }
        // dZ[1] is no longer needed: W[1] X = the sum of the parts, over it
        std::copy(ws.Z1_parts.begin(), ws.Z1_parts.begin() + part, dZ1);
        for (int s = 1; s < team; ++s) add<T>(dZ1, ws.Z1_parts.data() + s * stride, dZ1, part);
        layer.W.swap(layer.dW);
        ws.Z1_ready = true;
    }

    void step_weights(index l, T learning_rate, Workspace<T>& ws) {
        Layer<T>& layer = layers_[l];
        if (l == 0 && ws.gram.active) {
            ws.gram.accumulate(ws.A[0].data());
            return;
        }
        descend<T>(layer.W.data(), learning_rate, layer.dW.data(), static_cast<index>(layer.W.size()));
        layer.W.swap(layer.dW);
    }

    void step_bias(index l, T learning_rate) {
        Layer<T>& layer = layers_[l];
        descend<T>(layer.b.data(), learning_rate, layer.db.data(), static_cast<index>(layer.b.size()));
        layer.b.swap(layer.db);
    }

    void undo_step(Workspace<T>& ws) {
        for (index l = 0; l < L(); ++l) {
            if (l == 0 && ws.gram.active)
                ws.gram.undo();
            else
                layers_[l].W.swap(layers_[l].dW);
            layers_[l].b.swap(layers_[l].db);
        }
    }

    // Whether the last forward pass gave a finite cost: the cost is finite exactly when Z[L] is.
    bool finite_output(const Workspace<T>& ws) const { return all_finite<T>(ws.A.back().data(), output_count(ws)); }

    // Start the Gram first layer for a fit on X at this learning rate (W[1] is then kept as W[1]_0 and S).
    void begin_gram(Matrix<const T> X, T learning_rate, Workspace<T>& ws) {
        check_input(X, ws);
        ws.gram.begin(X, layers_[0].W_mat(), learning_rate);
    }

    // Write the current W[1] = W[1]_0 - (lr/m) S X^T into the parameters (the Gram state stays valid).
    void materialize_gram(Matrix<const T> X, const Workspace<T>& ws) {
        if (ws.gram.active) ws.gram.materialize(X, layers_[0].W.data());
    }

    // `iterations` steps of gradient descent on (X, Y), each backward, step, then the forward pass of the
    // parameters reached (the next step starts from it, and it gives their cost). The result holds the cost of
    // the parameters reached, so a caller sees the cost of iteration i with the network at iteration i.
    // `stop` is asked after every step; when it says true the loop ends there. A forward pass with a
    // non-finite cost ends the loop, and the step that led to it is undone (exactly: see step()).
    TrainResult train(Matrix<const T> X, const T* Y, T learning_rate, std::int64_t iterations, Workspace<T>& ws,
                      const std::function<bool()>& stop) {
        TrainResult r;
        // The team of column slices replaces OpenBLAS's threads while it runs (parallel.hpp); held once for
        // the whole call, so the holds in forward and backward only count. Tiny iterations hold it too, and so
        // does a loop limited to one thread anyway (a hold also sends one-thread products to the sequential
        // BLAS, when the user chose one: sequential_blas.hpp).
        std::optional<blas::OneThreadHeld> one;
        if (ws.slices > 1 || ws.team.size > 1 || ws.streamed || ws.one_thread ||
            blas::OneThreadHeld::wanted_threads() == 1)
            one.emplace();
        if (!ws.forward_ready) {  // the first call of a fit
            forward(X, ws);
            if (!finite_output(ws)) {
                r.diverged = true;
                return r;
            }
            ws.forward_ready = true;
        }
        if (ws.team.size > 1 && iterations > 0) return train_narrow_team(X, Y, learning_rate, iterations, ws, stop);
        for (std::int64_t i = 0; i < iterations; ++i) {
            if (ws.streamed) {
                backward(X, Y, ws);
                streamed_step(X, learning_rate, ws);
            } else {
                backward_and_step(X, Y, learning_rate, ws);
            }
            r.done = i + 1;
            forward(X, ws);
            if (!finite_output(ws)) {
                undo_step(ws);
                ws.forward_ready = false;
                r.diverged = r.reverted = true;
                return r;
            }
            if (stop && stop()) break;
        }
        r.cost = cost(ws, Y);
        return r;
    }

    // train()'s loop for a network of narrow layers on a team (narrow_team.hpp), in one parallel region for the
    // whole call, meeting once per iteration (NarrowTeam::exchange). Whether a thread's columns of the new Z[L]
    // are finite, and whether `stop` said true (asked on thread 0 only: it is the caller's thread), travel with
    // the next iteration's parts, so the team learns of them one backward pass late, and drops that pass.
    TrainResult train_narrow_team(Matrix<const T> X, const T* Y, T learning_rate, std::int64_t iterations,
                                  Workspace<T>& ws, const std::function<bool()>& stop) {
        NarrowTeam<T>& team = ws.team;
        std::int64_t done = 0;
        bool diverged = false;
        const std::int64_t first_round = team.round + 1;
#pragma omp parallel num_threads(team.size)
        {
            const int s = omp_get_thread_num(), S = omp_get_num_threads();
            if (s == 0) ws.backward_threads = S;  // read only after the team has ended
            // whole cache lines of each row where the rows start on one (A is 64-byte aligned), so that two
            // threads do not write to one line
            const Slice c = slice(ws.m, s, S, static_cast<index>(64 / sizeof(T)));
            T* mine = team.copy_of(s);
            team.take_copy(layers_, mine);
            unsigned flags = 0;  // this thread's news for the next meeting (NarrowTeam::not_finite, stopped)
            for (std::int64_t i = 0;; ++i) {
                const bool last = i == iterations;
                if (!last) NarrowTeam<T>::backward(layers_, mine, X, Y, ws.A, ws.m, c, team.parts_of(s));
                const unsigned news = team.exchange(s, S, first_round + i, flags);
                if (news || last) {
                    if (s == 0) {
                        done = i;  // steps taken, the one that gave a non-finite cost included
                        diverged = news & NarrowTeam<T>::not_finite;
                    }
                    break;
                }
                team.step(layers_, s, S, mine, learning_rate);
                flags = NarrowTeam<T>::forward(layers_, mine, X, ws.A, ws.m, c) ? 0 : NarrowTeam<T>::not_finite;
                if (s == 0 && stop && stop()) flags |= NarrowTeam<T>::stopped;
            }
        }
        team.round = first_round + done;  // every thread met in rounds 0..done of this call
        TrainResult r;
        r.done = done;
        if (diverged) {
            undo_step(ws);
            ws.forward_ready = false;
            r.diverged = r.reverted = true;
            return r;
        }
        if (done < iterations) forward(X, ws);  // the round that learned of the stop had begun backward over A
        r.cost = cost(ws, Y);
        return r;
    }

   private:
    index output_count(const Workspace<T>& ws) const { return layers_.back().n * ws.m; }

    void check_input(Matrix<const T> X, const Workspace<T>& ws) const {
        if (X.rows != dims_[0] || X.cols != ws.m)
            throw std::invalid_argument("X: expected shape (" + std::to_string(dims_[0]) + ", " +
                                        std::to_string(ws.m) + ")");
    }

    std::vector<index> dims_;
    std::vector<Layer<T>> layers_;
};

}  // namespace nn
