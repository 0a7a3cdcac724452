// dense.hpp: dense_forward, dense_backward and row_sums against naive triple loops in long double, for every
// combination of row-major / column-major (transposed view) operands, padded leading dimensions, m = 1, n = 1,
// and the first layer's skipped dA_prev.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "naive.hpp"
#include "nn/dense.hpp"

namespace nn::test {
namespace {

template <class T>
class Dense : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Dense, Types);

struct Shape { index n, n_prev, m; };
const Shape shapes[] = {{1, 1, 1}, {3, 5, 7}, {1, 4, 1}, {4, 1, 9}, {7, 3, 1}, {1, 9, 13}, {20, 17, 33}, {5, 150, 37}};

// A gemm result is judged against the naive sum with the usual bound: a few eps per term of sum |a||b|.
// rtol(T) * (|ref| + sum|a||b|) is that bound (k eps <= rtol for the k used here) and still catches any
// wrong element, sign, index or scaling.

std::string order_name(bool col_major, index pad) {
    return std::string(col_major ? "F" : "C") + (pad ? "+pad" : "");
}

TYPED_TEST(Dense, ForwardMatchesNaive) {
    using T = TypeParam;
    const Activation gs[] = {Activation::linear, Activation::relu, Activation::sigmoid, Activation::tanh};
    std::uint32_t seed = 100;
    for (const Shape& s : shapes)
        for (int orders = 0; orders < 8; ++orders) {
            const bool w_f = orders & 1, a_f = orders & 2;
            const index pad = (orders & 4) ? 3 : 0;
            Owned<T> W(s.n, s.n_prev, w_f, pad, ++seed), A(s.n_prev, s.m, a_f, pad, ++seed, -2, 2);
            auto b = uniform<T>(s.n, -1, 1, ++seed);
            for (Activation g : gs) {
                SCOPED_TRACE("n " + std::to_string(s.n) + " n_prev " + std::to_string(s.n_prev) + " m " +
                             std::to_string(s.m) + " W " + order_name(w_f, pad) + " A_prev " +
                             order_name(a_f, pad) + " g " + activation_name(g));
                std::vector<ld> ref(s.n * s.m), atol(s.n * s.m);
                for (index i = 0; i < s.n; ++i)
                    for (index j = 0; j < s.m; ++j) {
                        ld z = 0, mag = 0;
                        for (index k = 0; k < s.n_prev; ++k) {
                            z += W.at(i, k) * A.at(k, j);
                            mag += std::fabs(W.at(i, k) * A.at(k, j));
                        }
                        ref[i * s.m + j] = g_ref(g, z + b[i]);
                        atol[i * s.m + j] = rtol<T>() * (mag + std::fabs((ld)b[i]));  // g' <= 1 for these g
                    }
                std::vector<T> out(s.n * s.m, std::numeric_limits<T>::quiet_NaN());
                dense_forward<T>(W.view, b.data(), A.view, g, Matrix<T>(out.data(), s.n, s.m));
                EXPECT_TRUE(close(out, ref, rtol<T>(), atol));
            }
        }
}

TYPED_TEST(Dense, ForwardRejectsNonContiguousOrColumnMajorOutput) {
    using T = TypeParam;
    Owned<T> W(2, 3, false, 0, 1), A(3, 4, false, 0, 2);
    std::vector<T> b(2, T(0)), out(2 * 8);
    EXPECT_THROW(dense_forward<T>(W.view, b.data(), A.view, Activation::linear, Matrix<T>(out.data(), 2, 4, true)),
                 std::invalid_argument);
    EXPECT_THROW(dense_forward<T>(W.view, b.data(), A.view, Activation::linear, Matrix<T>(out.data(), 2, 4, false, 8)),
                 std::invalid_argument);
    EXPECT_THROW(dense_forward<T>(W.view, b.data(), A.view, Activation::linear, Matrix<T>(out.data(), 2, 5)),
                 std::invalid_argument);  // shapes do not chain
}

TYPED_TEST(Dense, BackwardMatchesNaive) {
    using T = TypeParam;
    std::uint32_t seed = 500;
    for (const Shape& s : shapes)
        for (int orders = 0; orders < 64; ++orders) {
            const bool dz_f = orders & 1, a_f = orders & 2, w_f = orders & 4, dw_f = orders & 8, da_f = orders & 16;
            const index pad = (orders & 32) ? 2 : 0;
            SCOPED_TRACE("n " + std::to_string(s.n) + " n_prev " + std::to_string(s.n_prev) + " m " +
                         std::to_string(s.m) + " dZ " + order_name(dz_f, pad) + " A_prev " + order_name(a_f, pad) +
                         " W " + order_name(w_f, pad) + " dW " + order_name(dw_f, pad) + " dA_prev " +
                         order_name(da_f, pad));
            Owned<T> dZ(s.n, s.m, dz_f, pad, ++seed), A(s.n_prev, s.m, a_f, pad, ++seed, 0, 2),
                W(s.n, s.n_prev, w_f, pad, ++seed);
            Owned<T> dW(s.n, s.n_prev, dw_f, pad, ++seed), dA(s.n_prev, s.m, da_f, pad, ++seed);  // garbage in
            std::vector<T> db(s.n, T(-123));

            std::vector<ld> dW_ref(s.n * s.n_prev), dW_tol(s.n * s.n_prev), db_ref(s.n), db_tol(s.n),
                dA_ref(s.n_prev * s.m), dA_tol(s.n_prev * s.m);
            for (index i = 0; i < s.n; ++i)
                for (index k = 0; k < s.n_prev; ++k) {
                    ld acc = 0, mag = 0;
                    for (index j = 0; j < s.m; ++j) {
                        acc += dZ.at(i, j) * A.at(k, j);
                        mag += std::fabs(dZ.at(i, j) * A.at(k, j));
                    }
                    dW_ref[i * s.n_prev + k] = acc / s.m;
                    dW_tol[i * s.n_prev + k] = rtol<T>() * mag / s.m;
                }
            for (index i = 0; i < s.n; ++i) {
                ld acc = 0, mag = 0;
                for (index j = 0; j < s.m; ++j) acc += dZ.at(i, j), mag += std::fabs(dZ.at(i, j));
                db_ref[i] = acc / s.m;
                db_tol[i] = rtol<T>() * mag / s.m;
            }
            for (index k = 0; k < s.n_prev; ++k)
                for (index j = 0; j < s.m; ++j) {
                    ld acc = 0, mag = 0;
                    for (index i = 0; i < s.n; ++i) {
                        acc += W.at(i, k) * dZ.at(i, j);
                        mag += std::fabs(W.at(i, k) * dZ.at(i, j));
                    }
                    dA_ref[k * s.m + j] = acc;
                    dA_tol[k * s.m + j] = rtol<T>() * mag;
                }

            dense_backward<T>(dZ.view, A.view, W.view, dW.view, db.data(), dA.view);
            EXPECT_TRUE(close(rows_of<T>(dW.view), dW_ref, rtol<T>(), dW_tol)) << "dW";
            EXPECT_TRUE(close(db, db_ref, rtol<T>(), db_tol)) << "db";
            EXPECT_TRUE(close(rows_of<T>(dA.view), dA_ref, rtol<T>(), dA_tol)) << "dA_prev";

            // The first layer: dA_prev skipped (null view); dW and db unchanged.
            Owned<T> dW2(s.n, s.n_prev, dw_f, pad, ++seed);
            std::vector<T> db2(s.n, T(-123));
            dense_backward<T>(dZ.view, A.view, W.view, dW2.view, db2.data(), Matrix<T>());
            EXPECT_TRUE(close(rows_of<T>(dW2.view), dW_ref, rtol<T>(), dW_tol)) << "dW, dA_prev skipped";
            EXPECT_TRUE(close(db2, db_ref, rtol<T>(), db_tol)) << "db, dA_prev skipped";
            if (::testing::Test::HasFailure()) return;  // one failing combination is enough to read
        }
}

TYPED_TEST(Dense, BackwardWithNoExamplesGivesZeroGradients) {
    using T = TypeParam;
    // m = 0: inv_m = 0 and the gemm has an empty inner dimension; dW and db must come out 0, not the old NaNs.
    for (bool dw_f : {false, true}) {
        std::vector<T> dZ(1), A(1), W(6, T(1)), dW(6, std::numeric_limits<T>::quiet_NaN()),
            db(2, std::numeric_limits<T>::quiet_NaN());
        dense_backward<T>(Matrix<const T>(dZ.data(), 2, 0), Matrix<const T>(A.data(), 3, 0),
                          Matrix<const T>(W.data(), 2, 3), Matrix<T>(dW.data(), 2, 3, dw_f), db.data(), Matrix<T>());
        for (T v : dW) EXPECT_EQ(v, T(0));
        for (T v : db) EXPECT_EQ(v, T(0));
    }
}

TYPED_TEST(Dense, RowSumsBothOrders) {
    using T = TypeParam;
    // lengths around the vector widths too (8 and 16 lanes), where the loop's remainder starts
    for (auto [rows, cols] : {std::pair<index, index>{1, 1}, {1, 1000}, {1000, 1}, {3, 7}, {17, 5}, {9, 33}, {2, 15},
                              {2, 16}, {2, 63}, {2, 64}, {2, 65}, {3, 129}, {4, 400}})
        for (bool col_major : {false, true})
            for (index pad : {index(0), index(3)}) {
                SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " " + order_name(col_major, pad));
                Owned<T> M(rows, cols, col_major, pad, 900 + rows + cols);
                const T scale = T(0.375);
                std::vector<ld> ref(rows), tol(rows);
                for (index i = 0; i < rows; ++i) {
                    ld acc = 0, mag = 0;
                    for (index j = 0; j < cols; ++j) acc += M.at(i, j), mag += std::fabs(M.at(i, j));
                    ref[i] = acc * scale;
                    tol[i] = rtol<T>() * mag * scale;
                }
                std::vector<T> db(rows, T(-123));
                row_sums<T>(M.view, scale, db.data());
                EXPECT_TRUE(close(db, ref, rtol<T>(), tol));
            }
}

TYPED_TEST(Dense, AllFiniteFindsEveryNonFinite) {
    using T = TypeParam;
    using lim = std::numeric_limits<T>;
    for (index count : {1, 2, 15, 16, 17, 33, 64, 65, 400}) {
        // the extremes of the finite numbers are finite
        std::vector<T> x(count, lim::max());
        x[0] = -lim::max();
        x[count - 1] = lim::denorm_min();
        if (count > 2) x[1] = T(-0.0);
        EXPECT_TRUE(all_finite<T>(x.data(), count)) << count;
        for (T bad : {lim::quiet_NaN(), lim::infinity(), -lim::infinity()})
            for (index at = 0; at < count; ++at) {  // at every position, the tail's included
                std::vector<T> y(count, T(1));
                y[at] = bad;
                EXPECT_FALSE(all_finite<T>(y.data(), count)) << count << " " << at << " " << bad;
            }
    }
    EXPECT_TRUE(all_finite<T>(nullptr, 0));
}

}  // namespace
}  // namespace nn::test
