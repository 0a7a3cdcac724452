// One whole training iteration of Network<T> (backward, step, forward, cost check), float and double, on the
// networks of the course; with the Gram first layer as well where m < n_x. A small network's iterations are
// timed a call of train() of many at a time, as fit makes them (planar's narrow team starts once per call): Time
// is per call, and us_per_iteration per iteration.
// Reported as examples per second (items_per_second) and GFLOP/s of the ordinary path
// (forward 2 sum n n_prev m, backward 2 sum n n_prev m for dW + 2 sum_{l>=2} n n_prev m for dA[l-1]).
// Next to it, for the networks a team of threads trains (wide, deep): the same iteration's matrix products
// alone, made as the team makes them, with its barriers and nothing else: the floor of that way of training.
//   names: network_train_iteration/<type>/<dims>/m:<m>, network_train_iteration_gram/<type>/<dims>/m:<m>,
//          network_products_alone/<type>/<dims>/m:<m>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "nn/network.hpp"

namespace nn::bench {
namespace {

struct NetCase {
    std::vector<index> dims;
    index m;
    Activation hidden = Activation::relu;
};
const NetCase cases[] = {{{784, 512, 256, 1}, 1024},
                         {{12288, 20, 7, 5, 1}, 209},
                         {{2, 4, 1}, 400},
                         {{256, 256, 256, 256, 256, 256, 256, 256, 256, 1}, 2048, Activation::tanh}};  // deep

template <class T>
void train_iteration_bench(benchmark::State& state, NetCase c, bool gram) {
    std::vector<Activation> acts(c.dims.size() - 1, c.hidden);
    acts.back() = Activation::sigmoid;
    Network<T> net(c.dims, acts);
    std::uint32_t seed = 10;
    for (auto& layer : net.layers()) {  // xavier-like scale, so that many iterations stay well behaved
        const auto W = random_vector<T>(layer.W.size(), -1.7 / std::sqrt(double(layer.n_prev)),
                                        1.7 / std::sqrt(double(layer.n_prev)), ++seed);
        layer.W.assign(W.begin(), W.end());
    }
    const index m = c.m;
    auto X = random_vector<T>(c.dims[0] * m, 0, 1, 20);
    auto Y = random_labels<T>(c.dims.back() * m, 21);
    Matrix<const T> Xv(X.data(), c.dims[0], m);
    auto ws = net.plan_threads(Xv, gram);
    const T lr = T(0.0075);
    if (gram) net.begin_gram(Xv, lr, ws);
    // about 2^22 flops a call: one iteration of the large networks, a few hundred of planar's
    const auto per_call =
        static_cast<std::int64_t>(std::clamp(double(1 << 22) / net.iteration_flops(Xv, gram), 1.0, 1000.0));
    // The benchmark's own iterations are calls: --benchmark_min_time then bounds the wall time (timing each call
    // as its per-iteration share ran planar's case per_call times longer than asked, 100 s for 0.1 s).
    double seconds = 0;
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        const TrainResult r = net.train(Xv, Y.data(), lr, per_call, ws, nullptr);
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        if (r.diverged) {
            state.SkipWithError("training diverged");
            break;
        }
        state.SetIterationTime(took.count());
        seconds += took.count();
    }
    report_flops(state, net.iteration_flops(Xv, false) * double(per_call));
    state.counters["us_per_iteration"] =
        benchmark::Counter(seconds * 1e6 / double(per_call), benchmark::Counter::kAvgIterations);
    state.counters["iterations_per_call"] = static_cast<double>(per_call);
    state.SetItemsProcessed(state.iterations() * m * per_call);
}

// The products of one iteration as the team makes them (Network::forward_columns, gradient_part,
// backward_to_previous): each thread its own columns, through forward, then per layer its part of dW and its
// columns of dA, meeting once per layer; the products alone, with no bias, activation, sum or step.
template <class T>
void products_alone_bench(benchmark::State& state, NetCase c) {
    std::vector<Activation> acts(c.dims.size() - 1, c.hidden);
    acts.back() = Activation::sigmoid;
    Network<T> net(c.dims, acts);
    const index m = c.m, L = net.L();
    auto X = random_vector<T>(c.dims[0] * m, -1, 1, 30);
    Matrix<const T> Xv(X.data(), c.dims[0], m);
    // the workspace train would use: its team, its activations (written by forward, read as dZ) and its
    // per-thread blocks of dA
    auto ws = net.plan_threads(Xv, false);
    const int slices = ws.slices;
    if (slices < 2) {
        state.SkipWithError("trained without a team on this machine (one thread)");
        return;
    }
    index widest = 0;
    for (const auto& layer : net.layers()) widest = std::max(widest, layer.n * layer.n_prev);
    Buffer<T> dW_parts(static_cast<std::size_t>(widest * slices));  // each thread's part of dW
    for (auto _ : state) {
        blas::OneThreadHeld one;
#pragma omp parallel num_threads(slices)
        {
            const int s = omp_get_thread_num();
            const Slice cs = my_slice(m);
            T* dA_buf = ws.dA.data() + s * (ws.dA.size() / ws.slices);
            Matrix<const T> A_prev = Xv.block(0, cs.begin, Xv.rows, cs.size);
            for (index l = 0; l < L; ++l) {
                const auto& layer = net.layers()[l];
                Matrix<T> Z(ws.A[l].data() + cs.begin, layer.n, cs.size, false, m);
                blas::gemm<T>(T(1), layer.W_mat(), A_prev, T(0), Z);
                A_prev = Z;
            }
            for (index l = L - 1; l >= 0; --l) {
                const auto& layer = net.layers()[l];
                Matrix<const T> dZ(ws.A[l].data() + cs.begin, layer.n, cs.size, false, m);
                Matrix<const T> in = net.input_of(l, Xv, ws).block(0, cs.begin, layer.n_prev, cs.size);
                blas::gemm<T>(T(1), dZ, in.t(), T(0),
                              Matrix<T>(dW_parts.data() + s * widest, layer.n, layer.n_prev));
                for (index j0 = 0; l > 0 && j0 < cs.size; j0 += ws.block) {
                    const index cols = std::min(ws.block, cs.size - j0);
                    blas::gemm<T>(T(1), layer.W_mat().t(), dZ.block(0, j0, layer.n, cols), T(0),
                                  Matrix<T>(dA_buf, layer.n_prev, cols));
                }
#pragma omp barrier
            }
        }
    }
    report_flops(state, net.iteration_flops(Xv, false));
    state.counters["threads"] = slices;
}

std::string dims_name(const std::vector<index>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
}

template <class T>
void register_type() {
    for (const NetCase& c : cases) {
        const std::string suffix = std::string("/") + type_name<T>() + "/" + dims_name(c.dims) + "/m:" + std::to_string(c.m);
        benchmark::RegisterBenchmark(("network_train_iteration" + suffix).c_str(), train_iteration_bench<T>, c, false)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        if (c.m < c.dims[0])
            benchmark::RegisterBenchmark(("network_train_iteration_gram" + suffix).c_str(), train_iteration_bench<T>, c,
                                         true)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
        if (c.m >= 1024)  // the networks a team trains
            benchmark::RegisterBenchmark(("network_products_alone" + suffix).c_str(), products_alone_bench<T>, c)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
    }
}

const bool registered = [] {
    register_type<float>();
    register_type<double>();
    return true;
}();

}  // namespace
}  // namespace nn::bench
