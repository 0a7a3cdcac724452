#pragma once
// A second BLAS for the products nn runs on one thread: Intel MKL's sequential library, loaded at run time when
// the user opts in (the nn[mkl] extra; nn/_blas.py finds it). On these products MKL is faster than OpenBLAS:
// the engine took 41.1-41.6 ms per deep [256]*9 float64 iteration with it, 48.8-49.7 ms with OpenBLAS.
// Products OpenBLAS threads itself stay with OpenBLAS (blas.hpp): loaded this way, MKL has no threads of its own
// to fight nn's team or OpenBLAS's for the cores.
#include <string>

namespace nn::blas {

// cblas entry points (row/column layout and transposes are the standard CBLAS enum values, LP64 integers).
struct SequentialBlas {
    void (*dgemm)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*,
                  int);
    void (*sgemm)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
    void (*dgemv)(int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
    void (*sgemv)(int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
};

// The library while it is switched on, else null.
const SequentialBlas* sequential_blas() noexcept;

// Loads MKL's single dynamic library (libmkl_rt) from `path` with its sequential threading layer, and switches
// it on. Loaded once per process: later calls only switch it on again. Throws std::runtime_error saying what
// failed (the file, a missing symbol, or MKL already set to a threaded layer by someone else in the process).
void load_mkl(const std::string& path);

// Switches the loaded library on or off (off: every product goes to OpenBLAS). On needs load_mkl first.
void use_sequential_blas(bool on);

}  // namespace nn::blas
