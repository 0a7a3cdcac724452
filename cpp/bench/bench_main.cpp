// Entry point of nn_bench: Google Benchmark's main, plus the OpenBLAS thread count in the report's context.
// NN_BENCH_MKL=/path/to/libmkl_rt.so.N runs the products nn makes on one thread in MKL, as the nn[mkl] extra
// does in Python (sequential_blas.hpp).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "nn/blas.hpp"
#include "nn/sequential_blas.hpp"

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("openblas_threads", std::to_string(nn::blas::get_num_threads()));
    if (const char* mkl = std::getenv("NN_BENCH_MKL")) {
        try {
            nn::blas::load_mkl(mkl);
        } catch (const std::runtime_error& e) {
            std::fprintf(stderr, "NN_BENCH_MKL: %s\n", e.what());
            return 1;
        }
        benchmark::AddCustomContext("one_thread_products", std::string("MKL, ") + mkl);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
