// activations.hpp: forward (with and without bias), backward from Z and from A = g(Z), for every activation,
// float and double, against long-double scalar loops; sizes that are not multiples of the vector width;
// large |z| (saturation, no NaN); in-place use.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "naive.hpp"
#include "nn/activations.hpp"

namespace nn::test {
namespace {

template <class T>
class Activations : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Activations, Types);

const index sizes[] = {1, 3, 7, 17, 1000};

// tanh's derivative is computed as 1 - t^2 with t = tanh(z) rounded to T: near |t| = 1 that subtraction
// carries an absolute error of a few eps(T) (relative to dA) — the formula's, not the kernel's fault.
template <class T>
std::vector<ld> abs_tol_for(Activation g, const std::vector<T>& dA) {
    std::vector<ld> tol(dA.size(), 0.0L);
    if (g == Activation::tanh)
        for (std::size_t k = 0; k < dA.size(); ++k) tol[k] = 8 * eps<T>() * std::fabs((ld)dA[k]);
    return tol;
}

TYPED_TEST(Activations, ForwardNoBias) {
    using T = TypeParam;
    for (Activation g : all_activations)
        for (index size : sizes)
            for (bool as_column : {false, true}) {  // (1 x size) and (size x 1): one long row, or many rows of 1
                SCOPED_TRACE(std::string(activation_name(g)) + " size " + std::to_string(size) + (as_column ? " column" : " row"));
                const index n = as_column ? size : 1, m = as_column ? 1 : size;
                auto Z = uniform<T>(size, -8, 8, 11 + size);
                std::vector<ld> ref(size);
                for (index k = 0; k < size; ++k) ref[k] = g_ref(g, Z[k]);
                std::vector<T> A(size, T(-123));
                activation_forward<T>(g, Z.data(), nullptr, A.data(), n, m);
                EXPECT_TRUE(close(A, ref, rtol<T>()));
                activation_forward<T>(g, Z.data(), nullptr, Z.data(), n, m);  // in place: A aliases Z
                EXPECT_TRUE(close(Z, ref, rtol<T>()));
            }
}

TYPED_TEST(Activations, ForwardWithBias) {
    using T = TypeParam;
    const std::pair<index, index> shapes[] = {{1, 1}, {3, 7}, {7, 3}, {17, 5}, {1, 1000}, {4, 1000}, {1000, 1}};
    for (Activation g : all_activations)
        for (auto [n, m] : shapes) {
            SCOPED_TRACE(std::string(activation_name(g)) + " n " + std::to_string(n) + " m " + std::to_string(m));
            auto Z = uniform<T>(n * m, -6, 6, 21 + n * m);
            auto b = uniform<T>(n, -3, 3, 22 + n);  // b[i] goes to every element of row i
            std::vector<ld> ref(n * m);
            for (index i = 0; i < n; ++i)
                for (index j = 0; j < m; ++j) {
                    const T zb = Z[i * m + j] + b[i];  // the sum is rounded in T, as the spec says
                    ref[i * m + j] = g_ref(g, zb);
                }
            std::vector<T> A(n * m, T(-123));
            activation_forward<T>(g, Z.data(), b.data(), A.data(), n, m);
            EXPECT_TRUE(close(A, ref, rtol<T>()));
            activation_forward<T>(g, Z.data(), b.data(), Z.data(), n, m);
            EXPECT_TRUE(close(Z, ref, rtol<T>()));
        }
}

TYPED_TEST(Activations, BackwardFromZ) {
    using T = TypeParam;
    for (Activation g : all_activations)
        for (index size : sizes) {
            SCOPED_TRACE(std::string(activation_name(g)) + " size " + std::to_string(size));
            auto Z = uniform<T>(size, -8, 8, 31 + size);
            auto dA = uniform<T>(size, -2, 2, 32 + size);
            std::vector<ld> ref(size);
            for (index k = 0; k < size; ++k) ref[k] = (ld)dA[k] * dg_ref(g, Z[k]);
            const auto atol = abs_tol_for(g, dA);
            std::vector<T> dZ(size, T(-123));
            activation_backward<T>(g, dA.data(), Z.data(), dZ.data(), size);
            EXPECT_TRUE(close(dZ, ref, rtol<T>(), atol));
            activation_backward<T>(g, dA.data(), Z.data(), dA.data(), size);  // dZ aliases dA
            EXPECT_TRUE(close(dA, ref, rtol<T>(), atol));
        }
}

TYPED_TEST(Activations, BackwardFromOutput) {
    using T = TypeParam;
    for (Activation g : all_activations)
        for (index size : sizes) {
            SCOPED_TRACE(std::string(activation_name(g)) + " size " + std::to_string(size));
            auto Z = uniform<T>(size, -8, 8, 41 + size);
            if (size > 3) Z[2] = T(0);  // relu: A = 0 exactly must give dZ = 0
            std::vector<T> A(size);
            for (index k = 0; k < size; ++k) A[k] = static_cast<T>(g_ref(g, Z[k]));
            auto dA = uniform<T>(size, -2, 2, 42 + size);
            std::vector<ld> ref(size);
            for (index k = 0; k < size; ++k) ref[k] = (ld)dA[k] * dg_from_output_ref(g, A[k]);
            const auto atol = abs_tol_for(g, dA);
            std::vector<T> dZ(size, T(-123));
            activation_backward_from_output<T>(g, dA.data(), A.data(), dZ.data(), size);
            EXPECT_TRUE(close(dZ, ref, rtol<T>(), atol));
            // ... and it is g'(Z) itself: against the derivative from Z (A rounded to T costs a few eps more)
            std::vector<ld> ref_z(size);
            for (index k = 0; k < size; ++k) ref_z[k] = (ld)dA[k] * dg_ref(g, Z[k]);
            std::vector<ld> atol_z(size);
            for (index k = 0; k < size; ++k) atol_z[k] = 16 * eps<T>() * std::fabs((ld)dA[k]);
            EXPECT_TRUE(close(dZ, ref_z, 1e3 * eps<T>(), atol_z));
            std::vector<T> A2 = A;
            activation_backward_from_output<T>(g, dA.data(), A2.data(), A2.data(), size);  // dZ aliases A
            EXPECT_TRUE(close(A2, ref, rtol<T>(), atol));
            // with the sum of what it writes (db's row sum in the team's backward): the same dZ, bit for bit,
            // and their sum within the bound of any order of summation, (size - 1) eps sum |dZ|
            std::vector<T> dZs(size, T(-123));
            const T sum = activation_backward_from_output_sum<T>(g, dA.data(), A.data(), dZs.data(), size);
            EXPECT_EQ(dZs, dZ);
            ld exact = 0, magnitude = 0;
            for (T v : dZ) {
                exact += v;
                magnitude += std::fabs((ld)v);
            }
            EXPECT_LE(std::fabs((ld)sum - exact), (size - 1) * eps<T>() * magnitude);
            std::vector<T> A3 = A;  // dZ aliases A
            EXPECT_EQ(activation_backward_from_output_sum<T>(g, dA.data(), A3.data(), A3.data(), size), sum);
            EXPECT_EQ(A3, dZ);
        }
}

// |z| up to 1e4, placed at every position of a long array so that both the vector body and the scalar
// remainder of every clone see them.
template <class T>
std::vector<T> extreme_values(index count) {
    const double pattern[] = {1e4, -1e4, 1e3, -1e3, 745, -745, 710, -710, 100, -100, 89, -89, 50, -50,
                              20,  -20,  1,   -1,   0,   1e-30, -1e-30, 1e-300, -1e-300};
    const index p = sizeof(pattern) / sizeof(pattern[0]);
    std::vector<T> z(count);
    for (index k = 0; k < count; ++k) z[k] = static_cast<T>(pattern[k % p]);
    return z;
}

TYPED_TEST(Activations, LargeMagnitudeIsFiniteAndSaturates) {
    using T = TypeParam;
    for (index count : {index(23), index(1003)}) {
        const auto Z = extreme_values<T>(count);
        const std::vector<T> zero_b(1, T(0)), ones(count, T(1));
        for (Activation g : all_activations) {
            SCOPED_TRACE(std::string(activation_name(g)) + " count " + std::to_string(count));
            std::vector<T> A(count), A_b(count), dZ(count), dZ_out(count);
            activation_forward<T>(g, Z.data(), nullptr, A.data(), 1, count);
            activation_forward<T>(g, Z.data(), zero_b.data(), A_b.data(), 1, count);
            activation_backward<T>(g, ones.data(), Z.data(), dZ.data(), count);
            activation_backward_from_output<T>(g, ones.data(), A.data(), dZ_out.data(), count);
            std::vector<ld> ref(count), dref(count);
            for (index k = 0; k < count; ++k) {
                ref[k] = g_ref(g, Z[k]);
                dref[k] = dg_ref(g, Z[k]);
            }
            EXPECT_TRUE(close(A, ref, rtol<T>()));
            EXPECT_TRUE(close(A_b, ref, rtol<T>()));
            EXPECT_TRUE(close(dZ, dref, rtol<T>(), abs_tol_for(g, ones)));
            for (index k = 0; k < count; ++k) {
                ASSERT_TRUE(std::isfinite(A[k])) << "z = " << Z[k] << " A = " << A[k];
                ASSERT_TRUE(std::isfinite(dZ[k])) << "z = " << Z[k] << " dZ = " << dZ[k];
                ASSERT_TRUE(std::isfinite(dZ_out[k])) << "z = " << Z[k] << " dZ = " << dZ_out[k];
                const double az = std::fabs(static_cast<double>(Z[k]));
                if (g == Activation::sigmoid && az >= 1e3) {  // exp(-1000) underflows in both types
                    EXPECT_EQ(A[k], Z[k] > 0 ? T(1) : T(0)) << "z = " << Z[k];
                    EXPECT_EQ(dZ[k], T(0)) << "z = " << Z[k];
                    EXPECT_EQ(dZ_out[k], T(0)) << "z = " << Z[k];
                }
                if (g == Activation::sigmoid && az >= 50) {
                    EXPECT_EQ(A[k] == T(1), Z[k] > 0) << "z = " << Z[k];
                }
                if (g == Activation::sigmoid) {
                    EXPECT_TRUE(A[k] >= T(0) && A[k] <= T(1)) << "z = " << Z[k];
                }
                if (g == Activation::tanh && az >= 20) {
                    EXPECT_EQ(A[k], Z[k] > 0 ? T(1) : T(-1)) << "z = " << Z[k];
                    EXPECT_EQ(dZ[k], T(0)) << "z = " << Z[k];
                    EXPECT_EQ(dZ_out[k], T(0)) << "z = " << Z[k];
                }
            }
        }
    }
}

// tanh in double clamps its expm1 argument where tanh is +-1 (vector_math.hpp; float calls libmvec's tanhf);
// infinities and NaN still come out right.
TYPED_TEST(Activations, TanhOfInfinityAndNaN) {
    using T = TypeParam;
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> Z = {inf, -inf, nan, T(0)};
    std::vector<T> A(Z.size());
    activation_forward<T>(Activation::tanh, Z.data(), nullptr, A.data(), 1, static_cast<index>(Z.size()));
    EXPECT_EQ(A[0], T(1));
    EXPECT_EQ(A[1], T(-1));
    EXPECT_TRUE(std::isnan(A[2]));
    EXPECT_EQ(A[3], T(0));
}

// sigmoid and its derivative from Z out to where e^-|z| is subnormal in T: within a few ulps of long double
// up to |z| = 87 (double: 708), and from there on exactly 0 and 1 (vector_math.hpp flushes e^-|z|, which is
// then within 1.5 times the smallest normal number: the result is off by less than that); infinities
// saturate and NaN stays NaN.
TYPED_TEST(Activations, SigmoidFlushesWhereSubnormal) {
    using T = TypeParam;
    const double edge = sizeof(T) == sizeof(float) ? 120 : 800, flush_from = exp_flush_from<T>();
    std::vector<T> Z;
    for (int k = 0; k <= 4001; ++k) Z.push_back(static_cast<T>(-edge + 2 * edge * k / 4001.0));
    for (double z : {-86.99, -87.0, -87.01, -103.9, -104.0, -707.99, -708.0, -708.01, -745.0, -770.0})
        if (std::fabs(z) <= edge) Z.push_back(static_cast<T>(z)), Z.push_back(static_cast<T>(-z));
    const index count = static_cast<index>(Z.size());
    const std::vector<T> ones(count, T(1));
    std::vector<T> A(count), dZ(count);
    activation_forward<T>(Activation::sigmoid, Z.data(), nullptr, A.data(), 1, count);
    activation_backward<T>(Activation::sigmoid, ones.data(), Z.data(), dZ.data(), count);
    int flushed = 0;
    for (index k = 0; k < count; ++k) {
        const ld z = Z[k], ref = g_ref(Activation::sigmoid, z), dref = dg_ref(Activation::sigmoid, z);
        if (std::fabs(z) > flush_from) {
            EXPECT_EQ(A[k], z > 0 ? T(1) : T(0)) << "z = " << Z[k];
            EXPECT_EQ(dZ[k], T(0)) << "z = " << Z[k];
            ++flushed;
        } else {
            EXPECT_LE(std::fabs(A[k] - ref), 4 * eps<T>() * ref) << "z = " << Z[k] << " A = " << A[k];
            EXPECT_LE(std::fabs(dZ[k] - dref), 8 * eps<T>() * dref) << "z = " << Z[k] << " dZ = " << dZ[k];
        }
    }
    EXPECT_GT(flushed, 100);  // the sweep does go past the limit
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> special = {inf, -inf, nan, T(0), -T(0)};
    std::vector<T> S(special.size()), dS(special.size());
    const index n = static_cast<index>(S.size());
    activation_forward<T>(Activation::sigmoid, special.data(), nullptr, S.data(), 1, n);
    activation_backward<T>(Activation::sigmoid, ones.data(), special.data(), dS.data(), n);
    EXPECT_EQ(S[0], T(1));
    EXPECT_EQ(S[1], T(0));
    EXPECT_TRUE(std::isnan(S[2]));
    EXPECT_TRUE(std::isnan(dS[2]));
    EXPECT_EQ(S[3], T(0.5));
    EXPECT_EQ(S[4], T(0.5));
}

TEST(ActivationNames, RoundTripAndUnknownThrows) {
    for (Activation g : all_activations) EXPECT_EQ(activation_from_name(activation_name(g)), g);
    EXPECT_THROW(activation_from_name("softmax"), std::invalid_argument);
    EXPECT_THROW(activation_from_name(""), std::invalid_argument);
}

}  // namespace
}  // namespace nn::test
