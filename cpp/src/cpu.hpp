#pragma once
// What the CPU can run, asked once. nn's kernels on 64-byte vectors (the streamed first layer of several units,
// the short products) are built and measured for AVX-512 with FMA on x86-64 with GCC; elsewhere they are not
// used and OpenBLAS does that work. The narrow layers have an AVX2 build as well.
namespace nn {

inline bool cpu_has_avx512() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                            __builtin_cpu_supports("fma");
    return yes;
#else
    return false;
#endif
}

// AVX2 with FMA (x86-64-v3): the narrow layers' other build.
inline bool cpu_has_avx2_fma() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
#else
    return false;
#endif
}

}  // namespace nn
