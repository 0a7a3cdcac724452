// loss.hpp: binary cross-entropy from logits (stable at any finite z), from probabilities (the course form),
// and its backward dZ = AL - Y, against long-double scalar loops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "naive.hpp"
#include "nn/loss.hpp"

namespace nn::test {
namespace {

template <class T>
class Loss : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Loss, Types);

// The cost comes back as a double but each term is formed in T: a term below T's smallest normal number
// (e.g. log1p(exp(-100)) in float) is subnormal there, so T's underflow threshold is the absolute floor.
// The exact per-example cost for a sigmoid output with logit z and label y, in long double:
// max(z, 0) - y z + log1p(exp(-|z|)).
ld logit_term(ld z, ld y) { return (z > 0 ? z : 0.0L) - y * z + std::log1p(std::exp(-std::fabs(z))); }

template <class T>
::testing::AssertionResult close1(double got, ld ref, double rel) {
    return close<double>(std::vector<double>{got}, std::vector<ld>{ref}, rel,
                         std::vector<ld>{static_cast<ld>(std::numeric_limits<T>::min())});
}

TYPED_TEST(Loss, FromLogitsAtExtremes) {
    using T = TypeParam;
    for (double z : {1e4, -1e4, 1e3, -1e3, 745.0, -745.0, 100.0, -100.0, 0.0})
        for (double y : {0.0, 1.0}) {
            SCOPED_TRACE("z " + std::to_string(z) + " y " + std::to_string(y));
            const T Z = static_cast<T>(z), Y = static_cast<T>(y);
            const double J = cross_entropy_from_logits<T>(&Z, &Y, 1, 1);
            ASSERT_TRUE(std::isfinite(J)) << J;
            EXPECT_TRUE(close1<T>(J, logit_term(Z, Y), rtol<T>()));
            // the wrong label costs |z| (plus log 2 at z = 0); the right one costs (next to) nothing
            if (z != 0) {
                EXPECT_EQ(J >= std::fabs(z), (z > 0) != (y == 1.0)) << J;
            }
        }
    // the same values in one long array (vector body and remainder), m = count
    std::vector<T> Z, Y;
    for (int rep = 0; rep < 13; ++rep)
        for (double z : {1e4, -1e4, 1e3, -1e3})
            for (double y : {0.0, 1.0}) {
                Z.push_back(static_cast<T>(z));
                Y.push_back(static_cast<T>(y));
            }
    ld ref = 0;
    for (std::size_t k = 0; k < Z.size(); ++k) ref += logit_term(Z[k], Y[k]);
    ref /= Z.size();
    const double J = cross_entropy_from_logits<T>(Z.data(), Y.data(), Z.size(), Z.size());
    ASSERT_TRUE(std::isfinite(J));
    EXPECT_TRUE(close1<T>(J, ref, rtol<T>()));
    EXPECT_EQ(J, 2750.0);  // 13 * (1e4 + 1e4 + 1e3 + 1e3) / 104 exactly: every right label costs 0 here
}

// Each term of the cost and of dZ = sigmoid(Z) - Y out to where e^-|z| is subnormal in T: within a few ulps
// of long double up to |z| = 87 (double: 708); from there e^-|z| counts as 0 (vector_math.hpp), which moves
// a term by less than 1.5 times the smallest normal number and makes dZ exactly 0 for a right label and +-1
// for a wrong one.
TYPED_TEST(Loss, FromLogitsFlushWhereSubnormal) {
    using T = TypeParam;
    const double edge = sizeof(T) == sizeof(float) ? 120 : 800, flush_from = exp_flush_from<T>();
    const ld below = 1.5L * std::numeric_limits<T>::min();
    std::vector<T> Z, Y;
    for (int k = 0; k <= 2001; ++k)
        for (double y : {0.0, 1.0}) {
            Z.push_back(static_cast<T>(-edge + 2 * edge * k / 2001.0));
            Y.push_back(static_cast<T>(y));
        }
    const index count = static_cast<index>(Z.size());
    std::vector<T> dZ(count);
    cross_entropy_backward_from_logits<T>(Z.data(), Y.data(), dZ.data(), count);
    int flushed = 0;
    for (index k = 0; k < count; ++k) {
        const ld z = Z[k], y = Y[k];
        const ld term = logit_term(z, y), dref = g_ref(Activation::sigmoid, z) - y;
        const double J = cross_entropy_from_logits<T>(&Z[k], &Y[k], 1, 1);
        if (std::fabs(z) > flush_from) {
            EXPECT_LE(std::fabs(J - term), 4 * eps<T>() * term + below) << "z = " << Z[k] << " y = " << Y[k];
            EXPECT_EQ(dZ[k], (z > 0 ? T(1) : T(0)) - Y[k]) << "z = " << Z[k] << " y = " << Y[k];
            ++flushed;
        } else {
            EXPECT_LE(std::fabs(J - term), 4 * eps<T>() * term) << "z = " << Z[k] << " y = " << Y[k];
            // (s - 1 for y = 1 carries the rounding of s, up to eps absolute: the formula's, not the kernel's)
            EXPECT_LE(std::fabs(dZ[k] - dref), 4 * eps<T>() * std::fabs(dref) + (y == 1 ? eps<T>() : 0))
                << "z = " << Z[k] << " y = " << Y[k];
        }
    }
    EXPECT_GT(flushed, 100);
}

TYPED_TEST(Loss, FromLogitsRandom) {
    using T = TypeParam;
    for (index count : {1, 3, 7, 17, 1000}) {
        SCOPED_TRACE("count " + std::to_string(count));
        auto Z = uniform<T>(count, -20, 20, 51 + count);
        auto Y = labels<T>(count, 52 + count);
        const index m = count;
        ld ref = 0;
        for (index k = 0; k < count; ++k) ref += logit_term(Z[k], Y[k]);
        EXPECT_TRUE(close1<T>(cross_entropy_from_logits<T>(Z.data(), Y.data(), count, m), ref / m, rtol<T>()));
    }
    // several output units: count = n m, divided by m (not by count)
    auto Z = uniform<T>(12, -3, 3, 53);
    auto Y = labels<T>(12, 54);
    ld ref = 0;
    for (int k = 0; k < 12; ++k) ref += logit_term(Z[k], Y[k]);
    EXPECT_TRUE(close1<T>(cross_entropy_from_logits<T>(Z.data(), Y.data(), 12, 4), ref / 4, rtol<T>()));
}

TYPED_TEST(Loss, FromProbabilitiesMatchesNaive) {
    using T = TypeParam;
    for (index count : {1, 3, 7, 17, 1000}) {
        SCOPED_TRACE("count " + std::to_string(count));
        auto AL = uniform<T>(count, 1e-6, 1 - 1e-3, 61 + count);
        auto Y = labels<T>(count, 62 + count);
        if (count > 5) Y[1] = T(0.25), Y[4] = T(0.8);  // soft labels follow the same formula
        ld ref = 0;
        for (index k = 0; k < count; ++k)
            ref -= (ld)Y[k] * std::log((ld)AL[k]) + (1.0L - (ld)Y[k]) * std::log1p(-(ld)AL[k]);
        EXPECT_TRUE(close1<T>(cross_entropy<T>(AL.data(), Y.data(), count, count), ref / count, rtol<T>()));
    }
}

TYPED_TEST(Loss, FromProbabilitiesAtTheEnds) {
    using T = TypeParam;
    const T inf = std::numeric_limits<T>::infinity();
    const T one = 1, zero = 0;
    EXPECT_EQ(cross_entropy<T>(&one, &one, 1, 1), 0.0);    // a = 1, y = 1: 0, not 0 * log(0) = NaN
    EXPECT_EQ(cross_entropy<T>(&zero, &zero, 1, 1), 0.0);  // a = 0, y = 0
    EXPECT_EQ(cross_entropy<T>(&zero, &one, 1, 1), inf);   // a = 0, y = 1: +inf, honestly
    EXPECT_EQ(cross_entropy<T>(&one, &zero, 1, 1), inf);
    // ... also inside a vectorised loop
    std::vector<T> AL(37, T(1)), Y(37, T(1));
    AL[20] = T(0.5);
    EXPECT_TRUE(close1<T>(cross_entropy<T>(AL.data(), Y.data(), 37, 37), std::log(2.0L) / 37, rtol<T>()));
}

TYPED_TEST(Loss, BackwardFromLogitsIsSigmoidMinusY) {
    using T = TypeParam;
    for (index count : {1, 3, 7, 17, 1000}) {
        SCOPED_TRACE("count " + std::to_string(count));
        auto Z = uniform<T>(count, -30, 30, 81 + count);
        if (count > 10) Z[3] = T(1e4), Z[4] = T(-1e4), Z[5] = T(1e3), Z[6] = T(-1e3), Z[7] = T(0);
        auto Y = labels<T>(count, 82 + count);
        // sigmoid(z) - y: with y = 1 and z large the difference cancels; judged against |sigmoid| + |y|
        std::vector<ld> ref(count), atol(count);
        for (index k = 0; k < count; ++k) {
            const ld s = g_ref(Activation::sigmoid, Z[k]);
            ref[k] = s - (ld)Y[k];
            atol[k] = rtol<T>() * (s + (ld)Y[k]);
        }
        std::vector<T> dZ(count, T(-123));
        cross_entropy_backward_from_logits<T>(Z.data(), Y.data(), dZ.data(), count);
        EXPECT_TRUE(close(dZ, ref, rtol<T>(), atol));
        for (index k = 0; k < count; ++k) ASSERT_TRUE(std::isfinite(dZ[k])) << "z = " << Z[k];
        if (count > 10) {  // saturated: exactly -y or 1 - y
            EXPECT_EQ(dZ[3], T(1) - Y[3]);
            EXPECT_EQ(dZ[4], -Y[4]);
        }
        cross_entropy_backward_from_logits<T>(Z.data(), Y.data(), Z.data(), count);  // dZ aliases ZL
        EXPECT_TRUE(close(Z, ref, rtol<T>(), atol));
    }
}

}  // namespace
}  // namespace nn::test
