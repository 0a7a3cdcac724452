// short_products.hpp: gemm_short_k against a naive sum in long double, for every K it takes, rows of one to
// eight, row lengths around the vector widths, A in either order, padded B and C, alpha and beta; gemm_short_mn
// likewise for every shape of C it takes and K around the vector widths; and blas::gemm's choice of them
// (short_k_pays, short_mn_pays) on the shapes the narrow networks use.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "naive.hpp"
#include "nn/blas.hpp"
#include "nn/short_products.hpp"

namespace nn::test {
namespace {

template <class T>
class ShortProducts : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ShortProducts, Types);

// alpha A B + beta C in long double, with the usual bound (rtol per term of sum |a b|, and of |beta c|), row by
// row. With beta = 0 it fills C with NaN first: the product must not read C then, so NaN must not come through.
struct Expected {
    std::vector<ld> ref, tol;
};

template <class T>
Expected expected(T alpha, const Owned<T>& A, const Owned<T>& B, T beta, Owned<T>& C) {
    const index M = A.view.rows, K = A.view.cols, N = B.view.cols;
    if (beta == T(0))
        for (index i = 0; i < M; ++i)
            for (index j = 0; j < N; ++j) C.view(i, j) = std::numeric_limits<T>::quiet_NaN();
    Expected e{std::vector<ld>(M * N), std::vector<ld>(M * N)};
    for (index i = 0; i < M; ++i)
        for (index j = 0; j < N; ++j) {
            ld s = 0, mag = 0;
            for (index k = 0; k < K; ++k) {
                s += A.at(i, k) * B.at(k, j);
                mag += std::fabs(A.at(i, k) * B.at(k, j));
            }
            const ld c = beta == T(0) ? 0.0L : beta * C.at(i, j);
            e.ref[i * N + j] = alpha * s + c;
            e.tol[i * N + j] = rtol<T>() * (alpha * mag + std::fabs(c));
        }
    return e;
}

TYPED_TEST(ShortProducts, MatchNaive) {
    using T = TypeParam;
    std::uint32_t seed = 7;
    for (index K = 1; K <= short_k_max; ++K)
        for (index M : {1, 2, 3, 8})
            for (index N : {1, 5, 16, 17, 64, 101})
                for (bool a_f : {false, true})
                    for (auto [alpha, beta] : {std::pair<T, T>{T(1), T(0)}, {T(0.5), T(0)}, {T(1), T(1.5)}}) {
                        const index pad = (N % 2) ? 3 : 0;
                        SCOPED_TRACE("K " + std::to_string(K) + " M " + std::to_string(M) + " N " +
                                     std::to_string(N) + (a_f ? " A col-major" : " A row-major") + " alpha " +
                                     std::to_string(alpha) + " beta " + std::to_string(beta));
                        Owned<T> A(M, K, a_f, 0, ++seed), B(K, N, false, pad, ++seed);
                        Owned<T> C(M, N, false, pad, ++seed);
                        const Expected e = expected(alpha, A, B, beta, C);
                        gemm_short_k<T>(alpha, A.view, B.view, beta, C.view);
                        EXPECT_TRUE(close(rows_of<T>(C.view), e.ref, rtol<T>(), e.tol));
                        for (index i = 0; i < M; ++i)  // the padding of C is left alone (it holds NaN)
                            for (index j = N; j < N + pad; ++j) EXPECT_TRUE(std::isnan(C.storage[i * (N + pad) + j]));
                    }
}

TYPED_TEST(ShortProducts, DotsMatchNaive) {
    using T = TypeParam;
    std::uint32_t seed = 70;
    for (index M = 1; M <= short_mn_max; ++M)
        for (index N = 1; M * N <= short_mn_max; ++N)
            for (index K : {1, 7, 15, 16, 17, 64, 100, 401})
                for (bool c_f : {false, true})
                    for (auto [alpha, beta] : {std::pair<T, T>{T(1), T(0)}, {T(0.25), T(0)}, {T(1), T(-2)}}) {
                        const index pad = (K % 2) ? 5 : 0;
                        SCOPED_TRACE("M " + std::to_string(M) + " N " + std::to_string(N) + " K " +
                                     std::to_string(K) + (c_f ? " C col-major" : " C row-major") + " alpha " +
                                     std::to_string(alpha) + " beta " + std::to_string(beta));
                        Owned<T> A(M, K, false, pad, ++seed), B(K, N, true, pad, ++seed);
                        Owned<T> C(M, N, c_f, 0, ++seed);
                        const Expected e = expected(alpha, A, B, beta, C);
                        gemm_short_mn<T>(alpha, A.view, B.view, beta, C.view);
                        EXPECT_TRUE(close(rows_of<T>(C.view), e.ref, rtol<T>(), e.tol));
                    }
}

// A shape without an instance would leave C untouched: the kernels refuse it.
TEST(ShortProducts, RefuseShapesTheyHaveNoInstanceFor) {
    std::vector<double> a(100, 1.0), b(100, 1.0), c(100, 7.0);
    const Matrix<const double> A9(a.data(), 1, 9), B9(b.data(), 9, 2);
    EXPECT_THROW(gemm_short_k<double>(1.0, A9, B9, 0.0, Matrix<double>(c.data(), 1, 2)), std::invalid_argument);
    const Matrix<const double> A(a.data(), 3, 10), B(b.data(), 10, 3, true);
    EXPECT_THROW(gemm_short_mn<double>(1.0, A, B, 0.0, Matrix<double>(c.data(), 3, 3)), std::invalid_argument);
    for (double v : c) EXPECT_EQ(v, 7.0);
}

TEST(ShortProducts, TakenWhereTheyPay) {
    // planar's [2, 4, 1] on 400 examples: W[1] X, W[2] A[1] and W[2]^T dZ[2]
    EXPECT_TRUE(short_k_pays(4, 400, 2));
    EXPECT_TRUE(short_k_pays(1, 400, 4));
    EXPECT_TRUE(short_k_pays(4, 400, 1));
    // several rows over a longer K, or a big product: OpenBLAS
    EXPECT_FALSE(short_k_pays(7, 209, 5));
    EXPECT_FALSE(short_k_pays(2, 4096, 8));
    EXPECT_FALSE(short_k_pays(1, 400, short_k_max + 1));
    EXPECT_FALSE(short_k_pays(512, 8192, 1));
    // planar's dW[2] (1 x 4 over 400 examples) is one row of dot products; its dW[1] (4 x 2) is not, nor a column
    EXPECT_TRUE(short_mn_pays(1, 4, 400));
    EXPECT_TRUE(short_mn_pays(1, 5, 209));
    EXPECT_FALSE(short_mn_pays(4, 2, 400));
    EXPECT_FALSE(short_mn_pays(8, 1, 2048));
    EXPECT_FALSE(short_mn_pays(1, short_mn_max + 1, 400));
    EXPECT_FALSE(short_mn_pays(1, 4, 1 << 16));
}

}  // namespace
}  // namespace nn::test
