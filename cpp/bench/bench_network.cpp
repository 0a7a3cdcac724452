// One whole training iteration of Network<T> (forward, cost check, backward, step: train(..., 1 iteration)),
// float and double, on the networks of the course; with the Gram first layer as well where m < n_x.
// Reported as examples per second (items_per_second) and GFLOP/s of the ordinary path
// (forward 2 sum n n_prev m, backward 2 sum n n_prev m for dW + 2 sum_{l>=2} n n_prev m for dA[l-1]).
//   names: network_train_iteration/<type>/<dims>/m:<m>, network_train_iteration_gram/<type>/<dims>/m:<m>
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "nn/network.hpp"

namespace nn::bench {
namespace {

struct NetCase {
    std::vector<index> dims;
    index m;
};
const NetCase cases[] = {{{784, 512, 256, 1}, 1024}, {{12288, 20, 7, 5, 1}, 209}, {{2, 4, 1}, 400}};

template <class T>
void train_iteration_bench(benchmark::State& state, NetCase c, bool gram) {
    std::vector<Activation> acts(c.dims.size() - 1, Activation::relu);
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
    for (auto _ : state) {
        const TrainResult r = net.train(Xv, Y.data(), lr, 1, ws, nullptr);
        if (r.diverged) {
            state.SkipWithError("training diverged");
            break;
        }
    }
    double flops = 0;
    for (std::size_t l = 1; l < c.dims.size(); ++l)
        flops += 2.0 * c.dims[l] * c.dims[l - 1] * m * (l >= 2 ? 3 : 2);
    report_flops(state, flops);
    state.SetItemsProcessed(state.iterations() * m);
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
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        if (c.m < c.dims[0])
            benchmark::RegisterBenchmark(("network_train_iteration_gram" + suffix).c_str(), train_iteration_bench<T>, c,
                                         true)
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
