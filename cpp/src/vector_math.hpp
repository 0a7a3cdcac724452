#pragma once
// Tell the compiler that glibc's libmvec has SIMD versions of these functions, so that the
// `omp simd` loops in the kernels call them four or eight lanes at a time. glibc declares them only under
// -ffast-math, which we do not use (it would change results); the redeclaration gives the same calls with
// IEEE semantics elsewhere. Needs -fopenmp-simd.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu.hpp"
#include "nn/activations.hpp"

extern "C" {
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double log(double);
#pragma omp declare simd notinbranch
float logf(float);
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
float log1pf(float);
#pragma omp declare simd notinbranch
double expm1(double);
#pragma omp declare simd notinbranch
float expm1f(float);
#pragma omp declare simd notinbranch
float tanhf(float);
}

namespace nn::vm {
// The helpers the kernels call per element are always inlined: an outlined one is a scalar call per element
// inside an `omp simd` loop, so the loop runs scalar. GCC's inliner decides by the size of the whole file, and
// narrow_layer.cpp, which instantiates its kernels for many shapes, is near its limits: one more kernel
// there (a trial) left sigmoid, exp_neg and the bit helpers outlined, and planar float64 took 13.4 us per
// iteration, against 3.2-3.4 with the same code inlined.
inline double exp(double x) { return ::exp(x); }
inline float exp(float x) { return ::expf(x); }
inline double log(double x) { return ::log(x); }
inline float log(float x) { return ::logf(x); }
inline double log1p(double x) { return ::log1p(x); }
inline float log1p(float x) { return ::log1pf(x); }
inline double expm1(double x) { return ::expm1(x); }
inline float expm1(float x) { return ::expm1f(x); }

// Floats as their bits, for selects that GCC cannot split (see clamp_magnitude).
template <class T>
using bits_t = std::conditional_t<sizeof(T) == sizeof(std::uint32_t), std::uint32_t, std::uint64_t>;

template <class T>
[[gnu::always_inline]] inline bits_t<T> to_bits(T x) {
    bits_t<T> u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

template <class T>
[[gnu::always_inline]] inline T from_bits(bits_t<T> u) {
    T x;
    std::memcpy(&x, &u, sizeof u);
    return x;
}

// min(a, cap) for a = |z| >= 0 (NaN stays NaN), on the bits: for non-negative floats the integer order is the
// numeric order. Not a compare-and-select on floats, because GCC turns f(a > cap ? cap : a) into
// a > cap ? f(cap) : f(a), folds f(cap), and then either calls the vector f on the unclamped a (AVX-512) or
// gives up vectorising (AVX2, baseline): measured on planar float32 with noisy labels late in training,
// tanh's expm1f was 67% of the profile and an iteration took 5.2-6.2 instead of 1.7 us. An integer min is no
// branch to split.
template <class T>
[[gnu::always_inline]] inline T clamp_magnitude(T a, T cap) {
    using U = bits_t<T>;
    const U bits = to_bits(a), cap_bits = to_bits(cap), inf_bits = to_bits(std::numeric_limits<T>::infinity());
    const U nan = U(0) - static_cast<U>(bits > inf_bits);  // all ones where a is NaN: it stays a NaN below
    return from_bits<T>((bits < cap_bits ? bits : cap_bits) | (nan & inf_bits));
}

// e^-a for a = |z| >= 0, or 0 from a = 87 (double: 708) on, where e^-a is within 1.5 times the smallest
// normal number or below (NaN stays NaN). libmvec's vector exp takes a slow path where its result is subnormal
// (17x and 13x slower per element in float and double, measured), and every later operation on a subnormal
// costs a microcode assist; the output units of a confident network go there on every iteration (sigmoid(z)
// for z < -87 in float, and so dZ[L] = sigmoid(z) - y): measured on a converged [2, 4, 1] relu network in
// float32, an iteration took 5.8 us with the subnormals and 1.2 us without. Such a gradient cannot move a
// parameter (it is below the rounding of any normal one); flushing such values to zero is what the
// deep-learning frameworks do on CPUs, and the course's formula 1 / (1 + exp(-z)) gives exactly 0 there too.
// The zeroing is an and on the bits, and the argument is kept in range first, for the reason given at
// clamp_magnitude.
template <class T>
[[gnu::always_inline]] inline T exp_neg(T a) {
    using U = bits_t<T>;
    constexpr T limit = sizeof(T) == sizeof(float) ? T(87) : T(708);
    const U beyond = U(0) - static_cast<U>(a > limit);  // all ones there (not for NaN)
    return from_bits<T>(to_bits(exp(-clamp_magnitude(a, limit))) & ~beyond);
}

// In float, libmvec's own tanhf is the faster one: 0.25 against 0.40 ns per element with AVX-512, 0.59 against
// 0.84 with AVX2 and 0.99 against 1.29 with SSE2 (the expm1f route, clamped and divided, measured on 1600
// values in +-6 and in +-400: tanhf has no slow path for large |z|), and it is within 1.4 ulp of tanh over
// 4M values spread over [2^-30, 64].
inline float tanh(float z) { return ::tanhf(z); }

// e^x - 1 for x in [-40, 0], the range tanh in double needs (below), written out with FMAs: only for code compiled
// for a CPU with FMA (elsewhere each std::fma is a call into libm). x = k ln2 + r with k the nearest integer to x /
// ln2 (adding 1.5 * 2^52 rounds it, and leaves k in the low bits of the sum), so |r| <= ln2 / 2, and e^x - 1 = 2^k
// (e^r - 1) + (2^k - 1), where 2^k - 1 is exact down to k = -53 (below it, e^x - 1 rounds to -1 anyway). ln2 is
// split in two (Cody and Waite) so that x - k ln2_hi is exact. e^r - 1 = r + r^2 h(r), with h Taylor's series up to
// r^13 (the first term left out is below 0.15 ulp of the result), in Estrin's scheme: pairs of terms, then pairs of
// pairs, so that a chain of 4 dependent FMAs rather than 11 keeps several vectors of the loop in flight. Without
// FMAs (the same code with separate multiplies and adds) it took 1.37 ns per double against libmvec's 1.13 (Horner's
// scheme: 1.6), so baseline x86-64 keeps libmvec.
[[gnu::always_inline]] inline double expm1_down_to_minus_40(double x) {
    constexpr double inv_ln2 = 0x1.71547652b82fep0, shift = 0x1.8p52;
    constexpr double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const double shifted = std::fma(x, inv_ln2, shift);
    const double k = shifted - shift;
    const double r = std::fma(-k, ln2_lo, std::fma(-k, ln2_hi, x));
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    // the coefficient of r^n is 1 / n!
    const double q0 = std::fma(r, 1.0 / 6, 1.0 / 2), q1 = std::fma(r, 1.0 / 120, 1.0 / 24),
                 q2 = std::fma(r, 1.0 / 5040, 1.0 / 720), q3 = std::fma(r, 1.0 / 362880, 1.0 / 40320),
                 q4 = std::fma(r, 1.0 / 39916800, 1.0 / 3628800), q5 = std::fma(r, 1.0 / 6227020800, 1.0 / 479001600);
    const double s0 = std::fma(r2, q1, q0), s1 = std::fma(r2, q3, q2), s2 = std::fma(r2, q5, q4);
    const double h = std::fma(r8, s2, std::fma(r4, s1, s0));
    const double p = std::fma(r2, h, r);  // e^r - 1
    const std::uint64_t k_bits = to_bits(shifted) - to_bits(shift);
    const double two_k = from_bits<double>((k_bits + 1023) << 52);
    return std::fma(two_k, p, two_k - 1.0);
}

// tanh in double through expm1 (the expm1 form, for baseline x86-64; CPUs with FMA run tanh_fma below, the same
// formula with expm1 written out), which libmvec vectorises faster than tanh itself (0.8 against 1.3 ns per double
// here): with t = expm1(-2|z|) in (-1, 0], tanh|z| = -t / (t + 2) -- no overflow, and no cancellation for small
// z (expm1 is accurate there), so the result is within 4 ulps of tanh: 3.47 at most over 4M values of |z| in
// [2^-30, 8] and z in [-3, 3], against long double tanhl (expm1's own error reaches the quotient up to twice
// over: its relative sensitivity to t is 2 / (t + 2)), and 40% of them are not the correctly rounded tanh.
// tests/test_numerics.py holds the bound.
// From |z| = 20 on, expm1(-2|z|) rounds to -1 and tanh|z| to 1, exactly; |z| is clamped there because
// libmvec's vector expm1 takes a slow path below -708 (4x slower per element, measured), which a trained
// network's saturated tanh units hit on every iteration.
// tanh_fma below is the same formula through expm1_down_to_minus_40: with_fma chooses the expm1.
template <bool with_fma>
[[gnu::always_inline]] inline double tanh_form(double z) {
    const double x = -2.0 * clamp_magnitude(std::fabs(z), 20.0);
    double t;
    if constexpr (with_fma)
        t = expm1_down_to_minus_40(x);
    else
        t = expm1(x);
    return std::copysign(-t / (t + 2.0), z);
}

[[gnu::always_inline]] inline double tanh(double z) { return tanh_form<false>(z); }

// tanh in double by the same formula, through expm1_down_to_minus_40 instead of libmvec's expm1: 0.93-0.96 against
// 1.14-1.23 ns per double (AVX-512, activation_forward/tanh/double of cpp/bench at 1e4 and 1e5 elements, the two
// builds alternating), and within 2.6 ulps of tanh against the expm1 form's 3.5 (the largest errors over 4M values,
// against tanhl; cpp/tests/test_tanh_forms.cpp holds both bounds). The quotient stays a divide: an FMA reciprocal in
// its place (a float divide and one Newton step) made the loop slower, 1.22 ns. For code compiled for FMA only: the
// kernels choose between the two forms with tanh_with_fma() (below).
[[gnu::always_inline]] inline double tanh_fma(double z) { return tanh_form<true>(z); }

// float has one form: libmvec's tanhf.
inline float tanh_fma(float z) { return ::tanhf(z); }

// The sum of a GCC vector's lanes as a tree of halves (the upper half added to the lower, until one lane is
// left): log2(lanes) steps, not a chain of one addition per lane, in the same order for every clone. The halves
// are copied out with memcpy rather than shuffled (__builtin_shufflevector needs GCC 12; the two measured the
// same). Always inlined, so that each clone of a kernel gets it compiled for its own target (an outlined copy
// would be baseline x86-64).
template <class T, int bytes>
[[gnu::always_inline]] inline T lane_sum(const T __attribute__((vector_size(bytes))) & v) {
    if constexpr (bytes == sizeof(T)) {
        return v[0];
    } else {
        typedef T half __attribute__((vector_size(bytes / 2)));
        half lo, hi;
        std::memcpy(&lo, &v, sizeof lo);
        std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
        return lane_sum<T, bytes / 2>(lo + hi);
    }
}

template <class T>
inline T relu(T z) { return z > T(0) ? z : T(0); }

template <class T>
inline T leaky_relu(T z) { return z > T(0) ? z : T(leaky_relu_slope) * z; }

// dA g'(Z) written over dA, with g' formed from A = g(Z) (what the network keeps; relu and leaky_relu have
// A > 0 exactly where Z > 0), on a scalar T or a GCC vector V of T: the one definition of these formulas for
// activation_backward_from_output and the narrow layers' backward. By reference: a function that takes or
// returns a 64-byte vector by value has another ABI in a baseline clone, and GCC says so for each.
template <class T, class V>
[[gnu::always_inline]] inline void times_derivative_from_output(Activation g, V& da, const V& a) {
    switch (g) {
        case Activation::sigmoid: da = da * (a * (T(1) - a)); break;
        case Activation::tanh: da = da * (T(1) - a * a); break;
        case Activation::relu: da = a > V{} ? da : V{}; break;
        case Activation::leaky_relu: da = a > V{} ? da : da * T(leaky_relu_slope); break;
        case Activation::linear: break;
    }
}

// Stable sigmoid: with e = exp(-|z|) <= 1 nothing overflows; for z < 0 it is e / (1 + e). (Choosing the
// numerator, rather than between 1 / (1 + e) and e / (1 + e) after the division, keeps the choice away from
// the exp call, so that GCC vectorises it for AVX2 and baseline too.)
template <class T>
[[gnu::always_inline]] inline T sigmoid(T z) {
    const T e = exp_neg(std::fabs(z));
    return (z >= T(0) ? T(1) : e) / (T(1) + e);
}
}  // namespace nn::vm

// Compile each kernel for baseline x86-64, AVX2 and AVX-512 and pick one at load time: the module stays
// portable and still uses the widest vectors the CPU has.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NN_NO_TARGET_CLONES)
#define NN_TARGET_CLONES 1
#define NN_KERNEL __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define NN_KERNEL
#endif

namespace nn {
// Whether the elementwise kernels compute tanh in double in its FMA form (vm::tanh_fma): where they are
// compiled for FMA, that is in the x86-64-v3 and v4 clones (on any CPU with AVX2 and FMA), or in a build for a
// target with FMA. Baseline x86-64 keeps the expm1 form, in which every FMA would be a call into libm (a CPU with
// AVX2 and FMA but without the rest of x86-64-v3 would make those calls: right, only slower).
inline bool tanh_with_fma() {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return true;
#elif defined(NN_TARGET_CLONES)
    return cpu_has_avx2_fma();
#else
    return false;
#endif
}
}  // namespace nn
