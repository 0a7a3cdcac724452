#include "nn/sequential_blas.hpp"

#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

namespace nn::blas {
namespace {

// MKL's service functions and the values they take (mkl_service.h).
constexpr int mkl_threading_sequential = 1;
constexpr int mkl_interface_lp64 = 0;

std::mutex load_mu;
SequentialBlas loaded{};
bool is_loaded = false;
// Read on every product, from any thread; written only under load_mu.
std::atomic<const SequentialBlas*> active{nullptr};

template <class F>
F symbol(void* lib, const char* name, const std::string& path) {
    void* p = dlsym(lib, name);
    if (!p) throw std::runtime_error(path + " has no " + name + ": not an MKL runtime library");
    return reinterpret_cast<F>(p);
}

}  // namespace

const SequentialBlas* sequential_blas() noexcept { return active.load(std::memory_order_acquire); }

void load_mkl(const std::string& path) {
    std::lock_guard<std::mutex> lock(load_mu);
    if (!is_loaded) {
        // RTLD_LOCAL: MKL's cblas names stay out of the process's global namespace. The handle is never closed,
        // as products may be running in it.
        void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* why = dlerror();
            throw std::runtime_error("cannot load " + path + ": " + (why ? why : "unknown error"));
        }
        // The layers must be chosen before any other MKL call; each returns the layer in force, which is not
        // ours if another library in this process already set one.
        const int threading = symbol<int (*)(int)>(lib, "MKL_Set_Threading_Layer", path)(mkl_threading_sequential);
        if (threading != mkl_threading_sequential)
            throw std::runtime_error("MKL in this process already runs threading layer " + std::to_string(threading) +
                                     " (set by another library); nn needs its sequential layer");
        const int interface = symbol<int (*)(int)>(lib, "MKL_Set_Interface_Layer", path)(mkl_interface_lp64);
        if (interface != mkl_interface_lp64)
            throw std::runtime_error("MKL in this process already uses its 64-bit integer interface; nn needs LP64");
        loaded.dgemm = symbol<decltype(loaded.dgemm)>(lib, "cblas_dgemm", path);
        loaded.sgemm = symbol<decltype(loaded.sgemm)>(lib, "cblas_sgemm", path);
        loaded.dgemv = symbol<decltype(loaded.dgemv)>(lib, "cblas_dgemv", path);
        loaded.sgemv = symbol<decltype(loaded.sgemv)>(lib, "cblas_sgemv", path);
        is_loaded = true;
    }
    active.store(&loaded, std::memory_order_release);
}

void use_sequential_blas(bool on) {
    std::lock_guard<std::mutex> lock(load_mu);
    if (on && !is_loaded) throw std::runtime_error("no sequential BLAS is loaded");
    active.store(on ? &loaded : nullptr, std::memory_order_release);
}

}  // namespace nn::blas
