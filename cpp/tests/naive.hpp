#pragma once
// Shared helpers of the C++ tests: random data, naive scalar references in long double, and
// elementwise comparison with a tolerance that names the worst element when it fails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "nn/activations.hpp"
#include "nn/matrix.hpp"

namespace nn::test {

using ld = long double;

// Relative tolerances of the task: ~1e-12 for double, ~1e-5 for float.
template <class T>
constexpr double rtol() { return sizeof(T) == sizeof(double) ? 1e-12 : 1e-5; }
template <class T>
constexpr double eps() { return static_cast<double>(std::numeric_limits<T>::epsilon()); }


template <class T>
std::vector<T> uniform(std::size_t count, double lo, double hi, std::uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<T> v(count);
    for (auto& x : v) x = static_cast<T>(d(rng));
    return v;
}

template <class T>
std::vector<T> labels(std::size_t count, std::uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::bernoulli_distribution d(0.5);
    std::vector<T> v(count);
    for (auto& x : v) x = d(rng) ? T(1) : T(0);
    return v;
}

// |z| from which the engine takes e^-|z| as 0 (vector_math.hpp: exp_neg), where it is within 1.5 times the
// smallest normal number of T.
template <class T>
constexpr double exp_flush_from() { return sizeof(T) == sizeof(float) ? 87 : 708; }

// ---- naive activations, straight from the formulas, in long double
inline ld g_ref(Activation g, ld z) {
    switch (g) {
        case Activation::sigmoid: return 1.0L / (1.0L + std::exp(-z));
        case Activation::tanh: return std::tanh(z);
        case Activation::relu: return z > 0 ? z : 0.0L;
        case Activation::leaky_relu: return z > 0 ? z : 0.01L * z;
        case Activation::linear: return z;
    }
    return NAN;
}
// g'(z) from z. sigmoid' = s(z) s(-z) = 1 / ((1 + e^-z)(1 + e^z)), without the cancellation of 1 - s.
inline ld dg_ref(Activation g, ld z) {
    switch (g) {
        case Activation::sigmoid: return 1.0L / ((1.0L + std::exp(-z)) * (1.0L + std::exp(z)));
        case Activation::tanh: { ld c = std::cosh(z); return 1.0L / (c * c); }
        case Activation::relu: return z > 0 ? 1.0L : 0.0L;
        case Activation::leaky_relu: return z > 0 ? 1.0L : 0.01L;
        case Activation::linear: return 1.0L;
    }
    return NAN;
}
// g'(z) written in terms of a = g(z) (the network's form), evaluated exactly for the given a.
inline ld dg_from_output_ref(Activation g, ld a) {
    switch (g) {
        case Activation::sigmoid: return a * (1.0L - a);
        case Activation::tanh: return 1.0L - a * a;
        case Activation::relu: return a > 0 ? 1.0L : 0.0L;
        case Activation::leaky_relu: return a > 0 ? 1.0L : 0.01L;
        case Activation::linear: return 1.0L;
    }
    return NAN;
}

// got[k] must match ref[k] within rtol * |ref[k]| + abs_tol[k] (abs_tol empty: none) + tiny, where tiny
// (the smallest normal number of T) absorbs results that underflow to subnormal or zero in T.
template <class T>
::testing::AssertionResult close(const std::vector<T>& got, const std::vector<ld>& ref, double rtol,
                                 const std::vector<ld>& abs_tol = {}) {
    if (got.size() != ref.size()) return ::testing::AssertionFailure() << "size " << got.size() << " != " << ref.size();
    const ld tiny = std::numeric_limits<T>::min();
    std::size_t bad = 0, worst = 0;
    ld worst_ratio = 0;
    for (std::size_t k = 0; k < got.size(); ++k) {
        const ld g = got[k], r = ref[k];
        const ld tol = rtol * std::fabs(r) + (abs_tol.empty() ? 0.0L : abs_tol[k]) + tiny;
        bool ok;
        if (std::isnan(r)) ok = std::isnan(g);
        else if (std::isinf(r)) ok = g == r;
        else ok = std::isfinite(g) && std::fabs(g - r) <= tol;
        if (!ok) {
            ++bad;
            const ld ratio = std::isfinite(g) ? std::fabs(g - r) / tol : std::numeric_limits<ld>::infinity();
            if (bad == 1 || ratio > worst_ratio) { worst = k; worst_ratio = ratio; }
        }
    }
    if (!bad) return ::testing::AssertionSuccess();
    std::ostringstream os;
    os.precision(20);
    os << bad << " of " << got.size() << " elements differ; worst at [" << worst << "]: got " << (ld)got[worst]
       << ", expected " << ref[worst] << " (|diff| / tol = " << worst_ratio << ")";
    return ::testing::AssertionFailure() << os.str();
}

// Fill a (rows x cols) view over fresh storage, in the given order with leading dimension ld_ (0: packed);
// padding is filled with NaN so that reading it would poison the results.
template <class T>
struct Owned {
    std::vector<T> storage;
    Matrix<T> view;
    Owned(index rows, index cols, bool col_major, index pad, std::uint32_t seed, double lo = -1, double hi = 1) {
        const index lead = (col_major ? rows : cols) + pad;
        const index outer = col_major ? cols : rows;
        storage.assign(static_cast<std::size_t>(std::max<index>(lead * outer, 1)), std::numeric_limits<T>::quiet_NaN());
        view = Matrix<T>(storage.data(), rows, cols, col_major, lead);
        auto v = uniform<T>(static_cast<std::size_t>(rows * cols), lo, hi, seed);
        for (index i = 0; i < rows; ++i)
            for (index j = 0; j < cols; ++j) view(i, j) = v[static_cast<std::size_t>(i * cols + j)];
    }
    ld at(index i, index j) const { return static_cast<ld>(view(i, j)); }
};

// Row-major copy of a view's logical contents (for comparisons).
template <class T>
std::vector<T> rows_of(Matrix<const T> M) {
    std::vector<T> out(static_cast<std::size_t>(M.rows * M.cols));
    for (index i = 0; i < M.rows; ++i)
        for (index j = 0; j < M.cols; ++j) out[static_cast<std::size_t>(i * M.cols + j)] = M(i, j);
    return out;
}

}  // namespace nn::test
