#pragma once
// Shared helpers of the C++ benchmarks: random buffers, type names, and the counters every benchmark reports.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "nn/activations.hpp"

namespace nn::bench {

template <class T>
std::vector<T> random_vector(std::size_t count, double lo, double hi, std::uint32_t seed = 1) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<T> v(count);
    for (auto& x : v) x = static_cast<T>(d(rng));
    return v;
}

template <class T>
std::vector<T> random_labels(std::size_t count, std::uint32_t seed = 2) {
    std::mt19937_64 rng(seed);
    std::bernoulli_distribution d(0.5);
    std::vector<T> v(count);
    for (auto& x : v) x = d(rng) ? T(1) : T(0);
    return v;
}

template <class T>
const char* type_name() { return sizeof(T) == sizeof(double) ? "double" : "float"; }


// Elements per second (items_per_second) and its inverse, seconds per element (printed with an SI prefix:
// "1.25ns" is 1.25 nanoseconds per element; JSON output has the plain number of seconds).
inline void report_elements(benchmark::State& state, std::int64_t count) {
    state.SetItemsProcessed(state.iterations() * count);
    state.counters["time_per_elem"] = benchmark::Counter(static_cast<double>(count),
                                                       benchmark::Counter::kIsIterationInvariantRate |
                                                           benchmark::Counter::kInvert);
}

// Floating-point operations per iteration, reported as a rate in GFLOP/s.
inline void report_flops(benchmark::State& state, double flops_per_iteration) {
    state.counters["GFLOP/s"] =
        benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace nn::bench
