// Elementwise kernels of activations.hpp: one simple loop per activation so each vectorises.
#include "nn/activations.hpp"

#include <type_traits>

#include "vector_math.hpp"

namespace nn {
namespace {

using vm::sigmoid;

// Apply f to every element of a row-major (n x m) block after adding b[i] to row i.
template <class T, class F>
inline void rows_map(const T* Z, const T* b, T* A, index n, index m, F f) {
    for (index i = 0; i < n; ++i) {
        const T bi = b ? b[i] : T(0);
        const T* z = Z + i * m;
        T* a = A + i * m;
#pragma omp simd
        for (index j = 0; j < m; ++j) a[j] = f(z[j] + bi);
    }
}

template <class T, class F>
inline void zip_map(const T* x, const T* y, T* out, index count, F f) {
#pragma omp simd
    for (index k = 0; k < count; ++k) out[k] = f(x[k], y[k]);
}

// loop(tanh) with tanh in the form this CPU runs best (vector_math.hpp): in double, the FMA form where
// tanh_with_fma() (each clone compiles both loops; only one of them ever runs on a given CPU).
template <class T, class Loop>
[[gnu::always_inline]] inline void with_tanh(Loop loop) {
    if constexpr (std::is_same_v<T, double>) {
        if (tanh_with_fma()) {
            loop([](T z) { return vm::tanh_fma(z); });
            return;
        }
    }
    loop([](T z) { return vm::tanh(z); });
}

}  // namespace

template <class T>
NN_KERNEL void activation_forward(Activation g, const T* Z, const T* b, T* A, index n, index m) {
    switch (g) {
        case Activation::sigmoid: rows_map(Z, b, A, n, m, [](T z) { return sigmoid(z); }); break;
        case Activation::tanh: with_tanh<T>([&](auto tanh) { rows_map(Z, b, A, n, m, tanh); }); break;
        case Activation::relu: rows_map(Z, b, A, n, m, [](T z) { return vm::relu(z); }); break;
        case Activation::leaky_relu: rows_map(Z, b, A, n, m, [](T z) { return vm::leaky_relu(z); }); break;
        case Activation::linear: rows_map(Z, b, A, n, m, [](T z) { return z; }); break;
    }
}

template <class T>
NN_KERNEL void activation_backward(Activation g, const T* dA, const T* Z, T* dZ, index count) {
    switch (g) {
        case Activation::sigmoid:
            // s (1 - s) = e / (1 + e)^2 with e = exp(-|z|): no cancellation in 1 - s when s is near 1.
            zip_map(dA, Z, dZ, count, [](T da, T z) {
                T e = vm::exp_neg(std::fabs(z));
                T r = T(1) / (T(1) + e);
                return da * (e * r * r);
            });
            break;
        case Activation::tanh:
            with_tanh<T>([&](auto tanh) {
                zip_map(dA, Z, dZ, count, [tanh](T da, T z) { T t = tanh(z); return da * (T(1) - t * t); });
            });
            break;
        case Activation::relu:
            zip_map(dA, Z, dZ, count, [](T da, T z) { return z > T(0) ? da : T(0); });
            break;
        case Activation::leaky_relu:
            zip_map(dA, Z, dZ, count, [](T da, T z) { return z > T(0) ? da : da * T(leaky_relu_slope); });
            break;
        case Activation::linear:
            zip_map(dA, Z, dZ, count, [](T da, T) { return da; });
            break;
    }
}

namespace {

// activation_backward_from_output for one activation G known at compile time, so that the loop has no switch.
template <Activation G, class T>
[[gnu::always_inline]] inline void zip_from_output(const T* dA, const T* A, T* dZ, index count) {
    zip_map(dA, A, dZ, count, [](T da, T a) {
        vm::times_derivative_from_output<T>(G, da, a);
        return da;
    });
}

// ... and the sum of the dZ it writes, each row's db formed in the pass that writes its dZ.
template <Activation G, class T>
[[gnu::always_inline]] inline T zip_from_output_sum(const T* dA, const T* A, T* dZ, index count) {
    T sum = T(0);
#pragma omp simd reduction(+ : sum)
    for (index k = 0; k < count; ++k) {
        T da = dA[k];
        vm::times_derivative_from_output<T>(G, da, A[k]);
        dZ[k] = da;
        sum += da;
    }
    return sum;
}

}  // namespace

template <class T>
NN_KERNEL void activation_backward_from_output(Activation g, const T* dA, const T* A, T* dZ, index count) {
    switch (g) {
        case Activation::sigmoid: zip_from_output<Activation::sigmoid>(dA, A, dZ, count); break;
        case Activation::tanh: zip_from_output<Activation::tanh>(dA, A, dZ, count); break;
        case Activation::relu: zip_from_output<Activation::relu>(dA, A, dZ, count); break;
        case Activation::leaky_relu: zip_from_output<Activation::leaky_relu>(dA, A, dZ, count); break;
        case Activation::linear: zip_from_output<Activation::linear>(dA, A, dZ, count); break;
    }
}

template <class T>
NN_KERNEL T activation_backward_from_output_sum(Activation g, const T* dA, const T* A, T* dZ, index count) {
    switch (g) {
        case Activation::sigmoid: return zip_from_output_sum<Activation::sigmoid>(dA, A, dZ, count);
        case Activation::tanh: return zip_from_output_sum<Activation::tanh>(dA, A, dZ, count);
        case Activation::relu: return zip_from_output_sum<Activation::relu>(dA, A, dZ, count);
        case Activation::leaky_relu: return zip_from_output_sum<Activation::leaky_relu>(dA, A, dZ, count);
        case Activation::linear: return zip_from_output_sum<Activation::linear>(dA, A, dZ, count);
    }
    return T(0);
}

template void activation_forward<double>(Activation, const double*, const double*, double*, index, index);
template void activation_forward<float>(Activation, const float*, const float*, float*, index, index);
template void activation_backward<double>(Activation, const double*, const double*, double*, index);
template void activation_backward<float>(Activation, const float*, const float*, float*, index);
template void activation_backward_from_output<double>(Activation, const double*, const double*, double*, index);
template void activation_backward_from_output<float>(Activation, const float*, const float*, float*, index);
template double activation_backward_from_output_sum<double>(Activation, const double*, const double*, double*, index);
template float activation_backward_from_output_sum<float>(Activation, const float*, const float*, float*, index);

}  // namespace nn
