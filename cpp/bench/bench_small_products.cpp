// The tiny products of the narrow networks (short_products.hpp): nn's kernels against blas::gemm_blas, the
// way blas::gemm calls OpenBLAS where it does not take them (gemv for a C of one row or column, else gemm),
// OpenBLAS at one thread.
// Reported in ns per call (real time) and GFLOP/s, float and double.
//   names: small_product/<type>/<nn|openblas>/M:../N:../K:../A_col_major:../B_col_major:..
// short_k_pays and short_mn_pays decide, shape by shape, which of the two blas::gemm takes (on AVX-512 CPUs).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench_util.hpp"
#include "nn/blas.hpp"
#include "nn/short_products.hpp"

namespace nn::bench {
namespace {

// {M, N, K, A column-major, B column-major}
const std::vector<std::vector<std::int64_t>> small_shapes = {
    {4, 400, 2, 0, 0},  {1, 400, 4, 0, 0},  {4, 400, 1, 1, 0},   // planar: W1 X, W2 A1, W2^T dZ2
    {1, 4, 400, 0, 1},  {4, 2, 400, 0, 1},                       // planar: dW2, dW1 (OpenBLAS keeps dW1)
    {1, 209, 5, 0, 0},  {5, 209, 1, 1, 0},  {1, 5, 209, 0, 1},   // cat's last layer: W4 A3, W4^T dZ4, dW4
    {7, 209, 5, 1, 0},  {256, 256, 1, 1, 0}, {2, 4096, 8, 0, 0}, // a longer K over several rows; big outer product
    {8, 1, 2048, 0, 1}};

template <class T>
void small_product_bench(benchmark::State& state, bool nn_kernel) {
    const index M = state.range(0), N = state.range(1), K = state.range(2);
    const bool a_f = state.range(3), b_f = state.range(4);
    auto A = random_vector<T>(M * K, -1, 1), B = random_vector<T>(K * N, -1, 1, 3);
    std::vector<T> C(M * N);
    const Matrix<const T> Av(A.data(), M, K, a_f), Bv(B.data(), K, N, b_f);
    const Matrix<T> Cv(C.data(), M, N);
    blas::OneThreadHeld one;
    for (auto _ : state) {
        if (nn_kernel && !b_f)
            gemm_short_k<T>(T(1), Av, Bv, T(0), Cv);
        else if (nn_kernel)
            gemm_short_mn<T>(T(1), Av, Bv, T(0), Cv);
        else
            blas::gemm_blas<T>(T(1), Av, Bv, T(0), Cv);
        benchmark::DoNotOptimize(C.data());
        benchmark::ClobberMemory();
    }
    report_flops(state, 2.0 * M * N * K);
}

template <class T>
void register_type() {
    const std::string t = type_name<T>();
    for (bool nn_kernel : {true, false}) {
        auto* bm = benchmark::RegisterBenchmark(("small_product/" + t + (nn_kernel ? "/nn" : "/openblas")).c_str(),
                                                small_product_bench<T>, nn_kernel);
        for (const auto& s : small_shapes)
            if (!nn_kernel || s[4] || s[2] <= short_k_max) bm->Args(s);  // gemm_short_mn takes any C of <= 8
        bm->ArgNames({"M", "N", "K", "A_col_major", "B_col_major"})->UseRealTime();
    }
}

const bool registered = [] {
    register_type<float>();
    register_type<double>();
    return true;
}();

}  // namespace
}  // namespace nn::bench
