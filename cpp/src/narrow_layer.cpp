// Kernels of narrow_layer.hpp: narrow_layer_kernels.inc compiled for AVX-512 and for AVX2, and the choice between
// them.
#include "nn/narrow_layer.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "cpu.hpp"
#include "vector_math.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_NARROW_LAYERS 1
#include <immintrin.h>
#endif

namespace nn {
namespace {

#ifdef NN_NARROW_LAYERS

// Each instruction set gets its own copy, compiled for it alone: target_clones would add a baseline clone of the
// vector code, which made this file's compile time ten times longer (92 against 10 s) for code never run.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,fma,avx2")
namespace avx512 {
#define NN_NARROW_VECTOR_BYTES 64
#include "narrow_layer_kernels.inc"
#undef NN_NARROW_VECTOR_BYTES
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#define NN_NARROW_VECTOR_BYTES 32
#include "narrow_layer_kernels.inc"
#undef NN_NARROW_VECTOR_BYTES
}  // namespace avx2
#pragma GCC pop_options

#endif

// The vector width to run: the one asked for (tests run both), else the widest this CPU has; 0 if none.
int chosen_vector_bytes(int asked) {
    const int widest = cpu_has_avx512() ? 64 : cpu_has_avx2_fma() ? 32 : 0;
    if (asked == 0) return widest;
    if ((asked != 32 && asked != 64) || asked > widest)
        throw std::invalid_argument("narrow layers: vector_bytes " + std::to_string(asked) +
                                    " is not 32 or 64, or not on this CPU (it has " + std::to_string(widest) + ")");
    return asked;
}

void check_fits(const char* what, index n, index n_prev) {
    if (!narrow_layer_fits(n, n_prev))
        throw std::invalid_argument(std::string(what) + ": needs at most 8 units over at most 8 inputs, 16 weights");
}

}  // namespace

// False where the kernels are not compiled (cpu_has_avx512 and cpu_has_avx2_fma are false off x86-64 GCC).
bool narrow_layers_supported() { return chosen_vector_bytes(0) != 0; }

template <class T>
void narrow_forward(const T* W, const T* b, index n, index n_prev, const T* A_prev, index ld_A, index m,
                    Activation g, T* A, index ld, int vector_bytes) {
    check_fits("narrow_forward", n, n_prev);
    const int vb = chosen_vector_bytes(vector_bytes);
    if (vb == 0) throw std::invalid_argument("narrow_forward: this CPU has neither AVX-512 nor AVX2");
#ifdef NN_NARROW_LAYERS
    if (vb == 64)
        avx512::forward<T>(W, b, n, n_prev, A_prev, ld_A, m, g, A, ld);
    else
        avx2::forward<T>(W, b, n, n_prev, A_prev, ld_A, m, g, A, ld);
#endif
}

template <class T>
void narrow_backward(const T* W, index n, index n_prev, const T* dZ, index ld_dZ, const T* A_prev, index ld_A,
                     index m, T scale, T* dW, T* db, Activation g_prev, T* dZ_prev, int vector_bytes) {
    check_fits("narrow_backward", n, n_prev);
    const int vb = chosen_vector_bytes(vector_bytes);
    if (vb == 0) throw std::invalid_argument("narrow_backward: this CPU has neither AVX-512 nor AVX2");
#ifdef NN_NARROW_LAYERS
    if (vb == 64)
        avx512::backward<T>(W, n, n_prev, dZ, ld_dZ, A_prev, ld_A, m, scale, dW, db, g_prev, dZ_prev);
    else
        avx2::backward<T>(W, n, n_prev, dZ, ld_dZ, A_prev, ld_A, m, scale, dW, db, g_prev, dZ_prev);
#endif
}

template void narrow_forward<double>(const double*, const double*, index, index, const double*, index, index,
                                     Activation, double*, index, int);
template void narrow_forward<float>(const float*, const float*, index, index, const float*, index, index,
                                    Activation, float*, index, int);
template void narrow_backward<double>(const double*, index, index, const double*, index, const double*, index,
                                      index, double, double*, double*, Activation, double*, int);
template void narrow_backward<float>(const float*, index, index, const float*, index, const float*, index, index,
                                     float, float*, float*, Activation, float*, int);

}  // namespace nn
