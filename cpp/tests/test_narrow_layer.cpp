// narrow_layer.hpp: dW, db and dZ of the layer below against naive sums in long double, for every layer size
// with an instance, every activation below and none (the first layer), example counts around the vector widths,
// rows with padding, dZ_prev written over A_prev or apart; sizes without an instance are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "naive.hpp"
#include "nn/narrow_layer.hpp"
#include "../src/vector_math.hpp"  // NN_TARGET_CLONES: whether the elementwise kernels are cloned

namespace nn::test {
namespace {

template <class T>
class NarrowLayer : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(NarrowLayer, Types);

struct Expected {
    std::vector<ld> dW, dW_tol, db, db_tol, dZ_prev, dZ_prev_tol;
};

// The layer's gradients in long double from the T inputs, each with the usual bound: rtol per term of the sum
// of magnitudes, and for dZ_prev also the rounding of g'(a) formed in T (1 - a a near |a| = 1: a few eps
// relative to dA, as in test_activations).
template <class T>
Expected expected(const std::vector<T>& W, index n, index n_prev, const Owned<T>& dZ, const Owned<T>& A, index m,
                  T scale, Activation g) {
    Expected e;
    for (index i = 0; i < n; ++i) {
        ld s = 0, mag = 0;
        for (index j = 0; j < m; ++j) s += dZ.at(i, j), mag += std::fabs(dZ.at(i, j));
        e.db.push_back(scale * s);
        e.db_tol.push_back(rtol<T>() * scale * mag);
        for (index k = 0; k < n_prev; ++k) {
            ld p = 0, pmag = 0;
            for (index j = 0; j < m; ++j) p += dZ.at(i, j) * A.at(k, j), pmag += std::fabs(dZ.at(i, j) * A.at(k, j));
            e.dW.push_back(scale * p);
            e.dW_tol.push_back(rtol<T>() * scale * pmag);
        }
    }
    for (index k = 0; k < n_prev; ++k)
        for (index j = 0; j < m; ++j) {
            ld da = 0, mag = 0;
            for (index i = 0; i < n; ++i) da += W[i * n_prev + k] * dZ.at(i, j), mag += std::fabs(W[i * n_prev + k] * dZ.at(i, j));
            const ld d = dg_from_output_ref(g, A.at(k, j));
            e.dZ_prev.push_back(da * d);
            e.dZ_prev_tol.push_back(rtol<T>() * mag * std::fabs(d) + 8 * eps<T>() * mag);
        }
    return e;
}

// The vector widths this CPU runs (narrow_layer.hpp's vector_bytes), each tested.
std::vector<int> vector_widths() {
    std::vector<int> widths;
    for (int vb : {32, 64}) {
        try {
            const float one = 1;
            float out = 0;
            narrow_forward<float>(&one, &one, 1, 1, &one, 1, 1, Activation::linear, &out, 1, vb);
            widths.push_back(vb);
        } catch (const std::invalid_argument&) {
        }
    }
    return widths;
}

// Every layer size (n units, n_prev inputs) that has an instance.
std::vector<std::pair<index, index>> sizes_with_instances() {
    std::vector<std::pair<index, index>> sizes;
    for (index n = 1; n <= narrow_max_units; ++n)
        for (index n_prev = 1; n_prev <= narrow_max_units; ++n_prev)
            if (narrow_layer_fits(n, n_prev)) sizes.emplace_back(n, n_prev);
    return sizes;
}

#ifdef NN_TARGET_CLONES
constexpr bool target_clones = true;
#else
constexpr bool target_clones = false;
#endif

TYPED_TEST(NarrowLayer, ForwardMatchesNaiveAndItsStatedRounding) {
    using T = TypeParam;
    const auto widths = vector_widths();
    if (widths.empty()) GTEST_SKIP() << "the kernels need AVX2 or AVX-512";
    std::uint32_t seed = 5;
    for (int vb : widths)
        for (auto [n, n_prev] : sizes_with_instances()) {
            for (index m : {1, 7, 8, 15, 16, 17, 64, 400})
                for (Activation g : all_activations) {
                    SCOPED_TRACE(std::to_string(vb) + "-byte vectors, n " + std::to_string(n) + " n_prev " +
                                 std::to_string(n_prev) + " m " + std::to_string(m) + " " + activation_name(g));
                    seed += 10;
                    const auto W = uniform<T>(n * n_prev, -1.5, 1.5, seed);
                    const auto b = uniform<T>(n, -0.5, 0.5, seed + 1);
                    Owned<T> A_prev(n_prev, m, false, m % 3, seed + 2, -2, 2);
                    std::vector<ld> ref(n * m), tol(n * m);
                    for (index i = 0; i < n; ++i)
                        for (index j = 0; j < m; ++j) {
                            ld z = b[i], mag = std::fabs((ld)b[i]);
                            for (index k = 0; k < n_prev; ++k)
                                z += W[i * n_prev + k] * A_prev.at(k, j), mag += std::fabs(W[i * n_prev + k] * A_prev.at(k, j));
                            // the rounding of z, carried through g (|g'| <= 1 for each activation)
                            ref[i * m + j] = g_ref(g, z);
                            tol[i * m + j] = rtol<T>() * mag;
                        }
                    // for odd m, A is the first m columns of a wider matrix, whose other columns stay as they were
                    const index ld = m % 2 ? m + 5 : m;
                    std::vector<T> A_wide(n * ld, T(-7)), A(n * m);
                    narrow_forward<T>(W.data(), b.data(), n, n_prev, A_prev.view.data, A_prev.view.ld, m, g,
                                      A_wide.data(), ld, vb);
                    for (index i = 0; i < n; ++i) {
                        std::copy(A_wide.begin() + i * ld, A_wide.begin() + i * ld + m, A.begin() + i * m);
                        for (index j = m; j < ld; ++j) EXPECT_EQ(A_wide[i * ld + j], T(-7));
                    }
                    EXPECT_TRUE(close(A, ref, rtol<T>(), tol));
                    // the products in the stated order, then activation_forward's bias and g exactly: on whole
                    // vectors (no scalar tail, whose libm calls may round otherwise), and at this CPU's widest
                    // width, which activation_forward's clone uses too (libmvec's AVX2 and AVX-512 functions may
                    // differ in the last bit). A build without target clones (NN_TARGET_CLONES undefined) runs
                    // activation_forward at the one width it was compiled for, so there is no such match to ask.
                    if (target_clones && m % 16 == 0 && vb == widths.back()) {
                        std::vector<T> Z(n * m);
                        for (index i = 0; i < n; ++i)
                            for (index j = 0; j < m; ++j) {
                                T z = W[i * n_prev] * A_prev.view(0, j);
                                for (index k = 1; k < n_prev; ++k) z = std::fma(W[i * n_prev + k], A_prev.view(k, j), z);
                                Z[i * m + j] = z;
                            }
                        activation_forward<T>(g, Z.data(), b.data(), Z.data(), n, m);
                        EXPECT_EQ(A, Z);
                    }
                    if (::testing::Test::HasFailure()) return;
                }
        }
}

TYPED_TEST(NarrowLayer, BackwardMatchesNaive) {
    using T = TypeParam;
    const auto widths = vector_widths();
    if (widths.empty()) GTEST_SKIP() << "the kernels need AVX2 or AVX-512";
    const Activation below[] = {Activation::sigmoid, Activation::tanh, Activation::relu, Activation::leaky_relu,
                                Activation::linear};
    std::uint32_t seed = 11;
    for (int vb : widths)
        for (auto [n, n_prev] : sizes_with_instances()) {
            for (index m : {1, 7, 8, 15, 16, 17, 33, 400})
                for (int mode = 0; mode < 7; ++mode) {  // 0-4: an activation below, written over A_prev or
                    // apart (5: over A_prev with relu, 6: the first layer, no dZ_prev)
                    const bool first = mode == 6, apart = mode < 5 && m % 2;
                    const Activation g = mode < 5 ? below[mode] : mode == 5 ? Activation::relu : Activation::linear;
                    SCOPED_TRACE(std::to_string(vb) + "-byte vectors, n " + std::to_string(n) + " n_prev " +
                                 std::to_string(n_prev) + " m " + std::to_string(m) + " " +
                                 (first ? "first layer" : activation_name(g)) + (apart ? " apart" : ""));
                    seed += 10;
                    const index pad_dZ = m % 3, pad_A = (m + 1) % 4;
                    const auto W = uniform<T>(n * n_prev, -1, 1, seed);
                    Owned<T> dZ(n, m, false, pad_dZ, seed + 1, -1, 1);
                    // A = g(Z): sigmoid's outputs in (0, 1), tanh's in (-1, 1) (out to near +-1), relu's >= 0
                    Owned<T> A(n_prev, m, false, pad_A, seed + 2, g == Activation::sigmoid ? 0.01 : -0.999, 0.999);
                    if (g == Activation::relu || g == Activation::leaky_relu)
                        for (index k = 0; k < n_prev; ++k)
                            for (index j = 0; j < m; ++j)
                                if ((k + j) % 3 == 0) A.view(k, j) = g == Activation::relu ? T(0) : -A.view(k, j) * T(0.01);
                    const T scale = T(1) / static_cast<T>(m);
                    const Expected e = expected<T>(W, n, n_prev, dZ, A, m, scale, g);
                    std::vector<T> dW(n * n_prev, T(-7)), db(n, T(-7));
                    Owned<T> out(n_prev, m, false, pad_A, seed + 3);  // dZ_prev apart from A_prev
                    const std::vector<T> A_before = A.storage, out_before = out.storage;
                    T* dZ_prev = first ? nullptr : apart ? out.view.data : A.view.data;
                    narrow_backward<T>(W.data(), n, n_prev, dZ.view.data, dZ.view.ld, A.view.data, A.view.ld, m,
                                       scale, dW.data(), db.data(), g, dZ_prev, vb);
                    EXPECT_TRUE(close(dW, e.dW, 0.0, e.dW_tol)) << "dW";
                    EXPECT_TRUE(close(db, e.db, 0.0, e.db_tol)) << "db";
                    if (first) {
                        EXPECT_EQ(A.storage.size(), A_before.size());
                        for (std::size_t k = 0; k < A.storage.size(); ++k)
                            ASSERT_TRUE(std::isnan(A_before[k]) ? std::isnan(A.storage[k]) : A.storage[k] == A_before[k])
                                << "the first layer's input changed at " << k;
                    } else {
                        const Owned<T>& got = apart ? out : A;
                        EXPECT_TRUE(close(rows_of<T>(got.view), e.dZ_prev, 0.0, e.dZ_prev_tol)) << "dZ_prev";
                        // the padding past each row stays as it was (NaN)
                        for (index k = 0; k < n_prev; ++k)
                            for (index j = m; j < got.view.ld; ++j)
                                ASSERT_TRUE(std::isnan(got.storage[k * got.view.ld + j])) << "padding written";
                    }
                    if (::testing::Test::HasFailure()) return;
                }
        }
}

TYPED_TEST(NarrowLayer, RefusesSizesWithoutAnInstance) {
    using T = TypeParam;
    std::vector<T> W(81, T(1)), dZ(81, T(1)), A(81, T(1)), dW(81, T(-7)), db(9, T(-7));
    for (auto [n, n_prev] : {std::pair<index, index>{9, 1}, {1, 9}, {5, 4}, {4, 5}, {0, 1}, {1, 0}}) {
        EXPECT_FALSE(narrow_layer_fits(n, n_prev));
        EXPECT_THROW(narrow_forward<T>(W.data(), db.data(), n, n_prev, A.data(), 9, 9, Activation::relu, dW.data(), 9),
                     std::invalid_argument);
        EXPECT_THROW(narrow_backward<T>(W.data(), n, n_prev, dZ.data(), 9, A.data(), 9, 9, T(1), dW.data(),
                                        db.data(), Activation::relu, A.data()),
                     std::invalid_argument);
        EXPECT_EQ(dW, std::vector<T>(81, T(-7)));
        EXPECT_EQ(db, std::vector<T>(9, T(-7)));
        EXPECT_EQ(A, std::vector<T>(81, T(1)));
    }
    // a vector width that does not exist is refused too, and so is AVX-512 on a CPU without it
    T one = T(1), out = T(-7);
    EXPECT_THROW(narrow_forward<T>(&one, &one, 1, 1, &one, 1, 1, Activation::linear, &out, 1, 16), std::invalid_argument);
    EXPECT_THROW(narrow_backward<T>(&one, 1, 1, &one, 1, &one, 1, 1, T(1), &out, &out, Activation::linear, nullptr, 128),
                 std::invalid_argument);
    EXPECT_EQ(out, T(-7));
    if (vector_widths().size() < 2) {
        EXPECT_THROW(narrow_forward<T>(&one, &one, 1, 1, &one, 1, 1, Activation::linear, &out, 1, 64),
                     std::invalid_argument);
    }
    // planar's layers have instances: [2, 4, 1] is 4 units over 2 inputs, then 1 over 4
    EXPECT_TRUE(narrow_layer_fits(4, 2));
    EXPECT_TRUE(narrow_layer_fits(1, 4));
    EXPECT_TRUE(narrow_layer_fits(8, 2));
    EXPECT_TRUE(narrow_layer_fits(1, 8));
}

}  // namespace
}  // namespace nn::test
