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
}

namespace nn::vm {
inline double exp(double x) { return ::exp(x); }
inline float exp(float x) { return ::expf(x); }
inline double log(double x) { return ::log(x); }
inline float log(float x) { return ::logf(x); }
inline double log1p(double x) { return ::log1p(x); }
inline float log1p(float x) { return ::log1pf(x); }
inline double expm1(double x) { return ::expm1(x); }
inline float expm1(float x) { return ::expm1f(x); }

// tanh through expm1, which libmvec vectorises faster than tanh itself (0.8 against 1.3 ns per double here):
// with t = expm1(-2|z|) in (-1, 0], tanh|z| = -t / (t + 2) -- no overflow, and no cancellation for small z
// (expm1 is accurate there), so the result is within a couple of ulps of tanh.
// Floats as their bits, for selects that GCC cannot split (see clamp_magnitude).
template <class T>
using bits_t = std::conditional_t<sizeof(T) == sizeof(std::uint32_t), std::uint32_t, std::uint64_t>;

template <class T>
inline bits_t<T> to_bits(T x) {
    bits_t<T> u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

template <class T>
inline T from_bits(bits_t<T> u) {
    T x;
    std::memcpy(&x, &u, sizeof u);
    return x;
}

// min(a, cap) for a = |z| >= 0 (NaN stays NaN), on the bits: for non-negative floats the integer order is the
// numeric order. Not a compare-and-select on floats, because GCC turns f(a > cap ? cap : a) into
// a > cap ? f(cap) : f(a), folds f(cap), and then either calls the vector f on the unclamped a (AVX-512) or
// gives up vectorising (AVX2, baseline): measured on planar float32 with noisy labels, tanh's expm1f was
// 67% of the profile and an iteration took 6.2 instead of 1.7 us. An integer min is no branch to split.
template <class T>
inline T clamp_magnitude(T a, T cap) {
    using U = bits_t<T>;
    const U bits = to_bits(a), cap_bits = to_bits(cap), inf_bits = to_bits(std::numeric_limits<T>::infinity());
    const U nan = U(0) - static_cast<U>(bits > inf_bits);  // all ones where a is NaN: it stays a NaN below
    return from_bits<T>((bits < cap_bits ? bits : cap_bits) | (nan & inf_bits));
}

// e^-a for a = |z| >= 0 (NaN stays NaN). libmvec's vector exp takes a slow path where its result is
// subnormal, below e^-87 in float and e^-708 in double (17x and 13x slower per element, measured), and the
// output units of a confident network go there on every iteration. So there e^-a is formed as
// e^(S - a) e^-S, with S an integer that keeps e^(S - a) normal; S - a is exact (a and S - a have the same
// exponent or S - a a smaller one), and the product rounds once into the subnormals. From a = 112 (770 in
// double) on, where e^-a rounds to 0, a is clamped. Elsewhere the result is exp(-a) itself: S = 0, times 1.
template <class T>
inline T exp_neg(T a) {
    constexpr bool single = sizeof(T) == sizeof(float);
    constexpr T normal_limit = single ? T(87) : T(708), cap = single ? T(112) : T(770), S = single ? T(32) : T(64);
    using U = bits_t<T>;
    a = clamp_magnitude(a, cap);
    const U subnormal = U(0) - static_cast<U>(to_bits(a) > to_bits(normal_limit));  // all ones there
    const T shift = from_bits<T>(to_bits(S) & subnormal);
    const U one = to_bits(T(1)), e_S = to_bits(static_cast<T>(single ? 1.2664165549094176e-14 : 1.6038108905486378e-28));
    const T scale = from_bits<T>(one ^ ((one ^ e_S) & subnormal));
    return exp(shift - a) * scale;
}

// From |z| = 20 (float: 10) on, expm1(-2|z|) rounds to -1 and tanh|z| to 1, exactly; |z| is clamped there
// because libmvec's vector expm1f takes a slow path below -87 and expm1 below -708 (6x and 4x slower per
// element, measured), which a trained network's saturated tanh units hit on every iteration.
template <class T>
inline T tanh(T z) {
    constexpr T saturated = sizeof(T) == sizeof(float) ? T(10) : T(20);
    const T t = expm1(T(-2) * clamp_magnitude(std::fabs(z), saturated));
    return std::copysign(-t / (t + T(2)), z);
}

// log(1 + e^-a) for a = |z| >= 0, the softplus term of the cost. libmvec's log1p is slow on a subnormal
// argument too (40x per element in float, measured), and there log1p(e) = e exactly; the argument is kept
// normal and the result taken from e itself, by a select on bits.
template <class T>
inline T log1p_exp_neg(T a) {
    using U = bits_t<T>;
    const T e = exp_neg(a);
    const U e_bits = to_bits(e), min_bits = to_bits(std::numeric_limits<T>::min());
    const U subnormal = U(0) - static_cast<U>(e_bits < min_bits);
    const U l_bits = to_bits(log1p(from_bits<T>(e_bits ^ ((e_bits ^ min_bits) & subnormal))));
    return from_bits<T>(l_bits ^ ((l_bits ^ e_bits) & subnormal));
}

// e^-a, or 0 from a = 87 (double: 708) on, where it is within 1.5 times the smallest normal number or below
// (a >= 0; NaN stays). Forming a subnormal costs microcode assists (see sigmoid_gradient) and libmvec's slow
// path (which starts about there), so where the caller would flush such values they are not formed at all.
template <class T>
inline T exp_neg_normal(T a) {
    using U = bits_t<T>;
    constexpr T normal_limit = sizeof(T) == sizeof(float) ? T(87) : T(708);
    const U zero = U(0) - static_cast<U>(to_bits(a) > to_bits(normal_limit));  // (NaN: exp(NaN) is NaN anyway)
    return from_bits<T>(to_bits(exp(-clamp_magnitude(a, normal_limit))) & ~zero);
}

// x, or 0 where |x| is below the smallest normal number (NaN stays).
template <class T>
inline T flush_subnormal(T x) {
    using U = bits_t<T>;
    const U bits = to_bits(x), magnitude = to_bits(std::fabs(x));
    const U keep = U(0) - static_cast<U>(magnitude >= to_bits(std::numeric_limits<T>::min()));
    return from_bits<T>(bits & keep);
}

// Stable sigmoid: with e = exp(-|z|) <= 1 nothing overflows; for z < 0, e / (1 + e) = e * s.
// The choice between the two is a select on bits by z's sign (-0 gives e * s = s), for the reason given at
// clamp_magnitude: as z >= 0 ? s : e * s, AVX2 and baseline clones were left scalar.
template <class T>
inline T sigmoid_from(T z, T e) {
    using U = bits_t<T>;
    const T s = T(1) / (T(1) + e);
    const U negative = U(0) - (to_bits(z) >> (8 * sizeof(U) - 1)), s_bits = to_bits(s);
    return from_bits<T>(s_bits ^ ((s_bits ^ to_bits(e * s)) & negative));
}

template <class T>
inline T sigmoid(T z) {
    return sigmoid_from(z, exp_neg(std::fabs(z)));
}

// dZ[L] = sigmoid(z) - y, with 0 where sigmoid(z) or the difference is below about the smallest normal number
// (exp_neg_normal, flush_subnormal). A confident network's correct outputs give such gradients (sigmoid(z) is
// subnormal in float from z = -87.3 on), and every operation that takes or makes a subnormal costs a microcode
// assist: measured on a converged [2, 4, 1] relu network in float32, an iteration took 5.8 us with them and
// 1.2 us without. Such a gradient cannot move a parameter (it is below the rounding of any normal one), and
// the course's own formula, 1 / (1 + exp(-z)) - y, gives exactly 0 there too.
template <class T>
inline T sigmoid_gradient(T z, T y) {
    return flush_subnormal(sigmoid_from(z, exp_neg_normal(std::fabs(z))) - y);
}
}  // namespace nn::vm

// Compile each kernel for baseline x86-64, AVX2 and AVX-512 and pick one at load time: the module stays
// portable and still uses the widest vectors the CPU has.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NN_NO_TARGET_CLONES)
#define NN_KERNEL __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define NN_KERNEL
#endif
