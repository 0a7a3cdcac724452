#pragma once
// The engine's own buffers (activations, parameters, gradients, the Gram state) start on a 64-byte boundary,
// so that the vector kernels' loads and stores are whole cache lines whenever a row's length is a multiple of
// the vector width: a 64-byte access that straddles two lines costs two (gemm_short_k on 4 x 400 doubles: 145
// against 190 ns; planar per iteration: 1.35 -> 1.24 us in float32, 3.39 -> 3.00 in float64).
//
// Buffers of 4 MiB and more start on a 2 MiB boundary and ask Linux for transparent huge pages (as NumPy does
// for its arrays of that size): OpenBLAS packs the activations a panel of rows at a time, and with 4 KiB pages
// each row of a wide activation (64 KiB on wide's 8192 examples) is pages of its own, so the packing misses the
// TLB on nearly every row. Measured with the C++ driver (2 threads, 4 runs alternating with 4 KiB pages):
// wide 144.4 -> 139.5 ms per iteration in float64 and 69.7 -> 64.8 ms in float32, deep 52.9 -> 52.3 ms.
// Where the kernel's setting is "never", or the call fails, the buffer keeps its ordinary pages.
#include <cstddef>
#include <new>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nn {

inline constexpr std::size_t buffer_alignment = 64;
inline constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;
inline constexpr std::size_t huge_buffer_min_bytes = std::size_t(4) << 20;

template <class T>
struct AlignedAllocator {
    using value_type = T;
    AlignedAllocator() = default;
    template <class U>
    AlignedAllocator(const AlignedAllocator<U>&) {}
    static std::size_t alignment(std::size_t bytes) {
        return bytes >= huge_buffer_min_bytes ? huge_page_bytes : buffer_alignment;
    }
    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        void* p = ::operator new(bytes, std::align_val_t(alignment(bytes)));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (bytes >= huge_buffer_min_bytes) madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure changes nothing
#endif
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t n) { ::operator delete(p, std::align_val_t(alignment(n * sizeof(T)))); }
    template <class U>
    bool operator==(const AlignedAllocator<U>&) const { return true; }
    template <class U>
    bool operator!=(const AlignedAllocator<U>&) const { return false; }
};

template <class T>
using Buffer = std::vector<T, AlignedAllocator<T>>;

}  // namespace nn
