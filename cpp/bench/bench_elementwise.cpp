// Elementwise kernels: every activation forward (bias + g, one pass) and backward (from Z and from A = g(Z)),
// and the cost from logits, float and double, 1e3 to 1e6 elements. Reported as items_per_second and ns_per_elem.
//   names: activation_forward/<g>/<type>/<count>, activation_forward_saturated/..., activation_backward/...,
//          activation_backward_from_output/...,
//          cross_entropy_from_logits/<type>/<count>, cross_entropy_backward_from_logits/<type>/<count>
#include <benchmark/benchmark.h>

#include <string>

#include "bench_util.hpp"
#include "nn/activations.hpp"
#include "nn/loss.hpp"

namespace nn::bench {
namespace {

const std::int64_t counts[] = {1000, 10000, 100000, 1000000};
constexpr index bias_rows = 8;  // the forward adds a bias per row: (8 x count/8), like a layer of 8 units

// Z in [-spread, spread]: 6 is a working unit; 400 is a saturated one, past where float's exp and expm1 (from
// -87) and double's (from -708) would take libmvec's slow path, so a kernel that fails to keep their arguments
// in range shows up as several times slower per element.
template <class T>
void activation_forward_bench(benchmark::State& state, Activation g, double spread) {
    const index count = state.range(0);
    auto Z = random_vector<T>(count, -spread, spread), b = random_vector<T>(bias_rows, -1, 1, 3);
    std::vector<T> A(count);
    for (auto _ : state) {
        activation_forward<T>(g, Z.data(), b.data(), A.data(), bias_rows, count / bias_rows);
        benchmark::DoNotOptimize(A.data());
        benchmark::ClobberMemory();
    }
    report_elements(state, count);
}

template <class T>
void activation_backward_bench(benchmark::State& state, Activation g) {
    const index count = state.range(0);
    auto Z = random_vector<T>(count, -6, 6), dA = random_vector<T>(count, -1, 1, 4);
    std::vector<T> dZ(count);
    for (auto _ : state) {
        activation_backward<T>(g, dA.data(), Z.data(), dZ.data(), count);
        benchmark::DoNotOptimize(dZ.data());
        benchmark::ClobberMemory();
    }
    report_elements(state, count);
}

template <class T>
void activation_backward_from_output_bench(benchmark::State& state, Activation g) {
    const index count = state.range(0);
    auto Z = random_vector<T>(count, -6, 6), dA = random_vector<T>(count, -1, 1, 4);
    std::vector<T> A(count), dZ(count);
    activation_forward<T>(g, Z.data(), nullptr, A.data(), 1, count);
    for (auto _ : state) {
        activation_backward_from_output<T>(g, dA.data(), A.data(), dZ.data(), count);
        benchmark::DoNotOptimize(dZ.data());
        benchmark::ClobberMemory();
    }
    report_elements(state, count);
}

template <class T>
void cross_entropy_from_logits_bench(benchmark::State& state) {
    const index count = state.range(0);
    auto Z = random_vector<T>(count, -10, 10), Y = random_labels<T>(count);
    for (auto _ : state) benchmark::DoNotOptimize(cross_entropy_from_logits<T>(Z.data(), Y.data(), count, count));
    report_elements(state, count);
}

template <class T>
void cross_entropy_backward_bench(benchmark::State& state) {
    const index count = state.range(0);
    auto Z = random_vector<T>(count, -10, 10), Y = random_labels<T>(count);
    std::vector<T> dZ(count);
    for (auto _ : state) {
        cross_entropy_backward_from_logits<T>(Z.data(), Y.data(), dZ.data(), count);
        benchmark::DoNotOptimize(dZ.data());
        benchmark::ClobberMemory();
    }
    report_elements(state, count);
}

template <class T>
void register_type() {
    const std::string t = type_name<T>();
    for (Activation g : all_activations) {
        const std::string a = activation_name(g);
        auto* f = benchmark::RegisterBenchmark(("activation_forward/" + a + "/" + t).c_str(),
                                               activation_forward_bench<T>, g, 6.0);
        auto* s = benchmark::RegisterBenchmark(("activation_forward_saturated/" + a + "/" + t).c_str(),
                                               activation_forward_bench<T>, g, 400.0);
        auto* b = benchmark::RegisterBenchmark(("activation_backward/" + a + "/" + t).c_str(),
                                               activation_backward_bench<T>, g);
        auto* o = benchmark::RegisterBenchmark(("activation_backward_from_output/" + a + "/" + t).c_str(),
                                               activation_backward_from_output_bench<T>, g);
        for (std::int64_t c : counts) f->Arg(c), s->Arg(c), b->Arg(c), o->Arg(c);
    }
    auto* c = benchmark::RegisterBenchmark(("cross_entropy_from_logits/" + t).c_str(), cross_entropy_from_logits_bench<T>);
    auto* d = benchmark::RegisterBenchmark(("cross_entropy_backward_from_logits/" + t).c_str(), cross_entropy_backward_bench<T>);
    for (std::int64_t n : counts) c->Arg(n), d->Arg(n);
}

const bool registered = [] {
    register_type<float>();
    register_type<double>();
    return true;
}();

}  // namespace
}  // namespace nn::bench
