// Entry point of nn_bench: Google Benchmark's main, plus the OpenBLAS thread count in the report's context.
#include <benchmark/benchmark.h>

#include <string>

#include "nn/blas.hpp"

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("openblas_threads", std::to_string(nn::blas::get_num_threads()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
