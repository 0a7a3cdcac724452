// Dense layers: forward Z = g(W A_prev + b) (2 n n_prev m flops) and backward dW = dZ A_prev^T / m,
// db, dA_prev = W^T dZ (2 n n_prev m each; the first layer skips dA_prev), float and double, on the layer
// shapes of the networks of the course and a few square ones. Reported in GFLOP/s.
//   names: dense_forward/<type>/n:../n_prev:../m:.., dense_backward/..., dense_backward_first_layer/...,
//          gram_pre_activation/<type>/n1:../m:.., gram_accumulate/<type>/n1:../m:.., gram_begin/<type>/n1:../n_x:../m:..
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_util.hpp"
#include "nn/dense.hpp"
#include "nn/gram.hpp"

namespace nn::bench {
namespace {

// {n, n_prev, m}: [784,512,256,1] m=1024, [12288,20,7,5,1] m=209, [2,4,1] m=400, and square sizes.
const std::vector<std::vector<std::int64_t>> shapes = {
    {512, 784, 1024}, {256, 512, 1024}, {1, 256, 1024},       // [784, 512, 256, 1], m = 1024
    {20, 12288, 209}, {7, 20, 209},     {1, 5, 209},          // [12288, 20, 7, 5, 1], m = 209
    {4, 2, 400},      {1, 4, 400},                            // [2, 4, 1], m = 400
    {64, 64, 64},     {256, 256, 256},  {512, 512, 512}};

template <class T>
void dense_forward_bench(benchmark::State& state) {
    const index n = state.range(0), n_prev = state.range(1), m = state.range(2);
    auto W = random_vector<T>(n * n_prev, -0.1, 0.1), A = random_vector<T>(n_prev * m, -1, 1, 3),
         b = random_vector<T>(n, -0.1, 0.1, 4);
    std::vector<T> out(n * m);
    for (auto _ : state) {
        dense_forward<T>(Matrix<const T>(W.data(), n, n_prev), b.data(), Matrix<const T>(A.data(), n_prev, m),
                         Activation::relu, Matrix<T>(out.data(), n, m));
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    report_flops(state, 2.0 * n * n_prev * m);
}

template <class T>
void dense_backward_bench(benchmark::State& state, bool with_dA_prev) {
    const index n = state.range(0), n_prev = state.range(1), m = state.range(2);
    auto W = random_vector<T>(n * n_prev, -0.1, 0.1), A = random_vector<T>(n_prev * m, -1, 1, 3),
         dZ = random_vector<T>(n * m, -1, 1, 5);
    std::vector<T> dW(n * n_prev), db(n), dA(with_dA_prev ? n_prev * m : 0);
    Matrix<T> dA_view = with_dA_prev ? Matrix<T>(dA.data(), n_prev, m) : Matrix<T>();
    for (auto _ : state) {
        dense_backward<T>(Matrix<const T>(dZ.data(), n, m), Matrix<const T>(A.data(), n_prev, m),
                          Matrix<const T>(W.data(), n, n_prev), Matrix<T>(dW.data(), n, n_prev), db.data(), dA_view);
        benchmark::DoNotOptimize(dW.data());
        benchmark::ClobberMemory();
    }
    report_flops(state, (with_dA_prev ? 4.0 : 2.0) * n * n_prev * m);
}

// ---- The Gram-space first layer (gram.hpp): per iteration it replaces the forward gemm W1 X (2 n1 n_x m)
// by L0 - (lr/m) S G (2 n1 m m) and the backward gemm dW1 = dZ1 X^T / m by S += dZ1 (n1 m).
// {n1, n_x, m}: the first layers above where m < n_x.
const std::vector<std::vector<std::int64_t>> gram_shapes = {{20, 12288, 209}, {512, 784, 256}, {4, 1000, 100}};

template <class T>
GramFirstLayer<T> gram_state(index n1, index n_x, index m, std::vector<T>& X) {
    X = random_vector<T>(n_x * m, 0, 1, 6);
    auto W = random_vector<T>(n1 * n_x, -0.01, 0.01, 7);
    GramFirstLayer<T> g;
    g.begin(Matrix<const T>(X.data(), n_x, m), Matrix<const T>(W.data(), n1, n_x), T(0.0075));
    return g;
}

template <class T>
void gram_pre_activation_bench(benchmark::State& state) {
    const index n1 = state.range(0), n_x = state.range(1), m = state.range(2);
    std::vector<T> X;
    auto g = gram_state<T>(n1, n_x, m, X);
    auto dZ = random_vector<T>(n1 * m, -1, 1, 8);
    g.accumulate(dZ.data());  // S != 0
    std::vector<T> out(n1 * m);
    for (auto _ : state) {
        g.pre_activation(out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    report_flops(state, 2.0 * n1 * m * m);
}

template <class T>
void gram_accumulate_bench(benchmark::State& state) {
    const index n1 = state.range(0), n_x = state.range(1), m = state.range(2);
    std::vector<T> X;
    auto g = gram_state<T>(n1, n_x, m, X);
    auto dZ = random_vector<T>(n1 * m, -1e-3, 1e-3, 8);
    for (auto _ : state) {
        g.accumulate(dZ.data());
        benchmark::DoNotOptimize(g.S.data());
        benchmark::ClobberMemory();
    }
    report_elements(state, n1 * m);
}

// Once per fit: G = X^T X (2 m m n_x) and L0 = W1 X (2 n1 n_x m), allocation included.
template <class T>
void gram_begin_bench(benchmark::State& state) {
    const index n1 = state.range(0), n_x = state.range(1), m = state.range(2);
    auto X = random_vector<T>(n_x * m, 0, 1, 6);
    auto W = random_vector<T>(n1 * n_x, -0.01, 0.01, 7);
    for (auto _ : state) {
        GramFirstLayer<T> g;
        g.begin(Matrix<const T>(X.data(), n_x, m), Matrix<const T>(W.data(), n1, n_x), T(0.0075));
        benchmark::DoNotOptimize(g.G.data());
    }
    report_flops(state, 2.0 * m * m * n_x + 2.0 * n1 * n_x * m);
}

template <class T>
void register_type() {
    const std::string t = type_name<T>();
    auto* f = benchmark::RegisterBenchmark(("dense_forward/" + t).c_str(), dense_forward_bench<T>);
    auto* b = benchmark::RegisterBenchmark(("dense_backward/" + t).c_str(), dense_backward_bench<T>, true);
    auto* b1 = benchmark::RegisterBenchmark(("dense_backward_first_layer/" + t).c_str(), dense_backward_bench<T>, false);
    for (auto* bm : {f, b, b1}) {
        for (const auto& s : shapes) bm->Args(s);
        bm->ArgNames({"n", "n_prev", "m"})->UseRealTime();  // OpenBLAS runs its own threads
    }
    auto* gp = benchmark::RegisterBenchmark(("gram_pre_activation/" + t).c_str(), gram_pre_activation_bench<T>);
    auto* ga = benchmark::RegisterBenchmark(("gram_accumulate/" + t).c_str(), gram_accumulate_bench<T>);
    auto* gb = benchmark::RegisterBenchmark(("gram_begin/" + t).c_str(), gram_begin_bench<T>);
    for (auto* bm : {gp, ga, gb}) {
        for (const auto& s : gram_shapes) bm->Args(s);
        bm->ArgNames({"n1", "n_x", "m"})->UseRealTime();
    }
}

const bool registered = [] {
    register_type<float>();
    register_type<double>();
    return true;
}();

}  // namespace
}  // namespace nn::bench
