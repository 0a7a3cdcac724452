#pragma once
// The only file that knows BLAS: a typed gemm over Matrix views (OpenBLAS from scipy-openblas32,
// whose symbols carry the scipy_ prefix).
#include <cblas.h>
#include <stdexcept>

#include "nn/matrix.hpp"
#include "nn/vector_ops.hpp"

namespace nn::blas {

inline void gemm_raw(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, double alpha,
                     const double* A, blasint lda, const double* B, blasint ldb, double beta, double* C, blasint ldc) {
    scipy_cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm_raw(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, float alpha,
                     const float* A, blasint lda, const float* B, blasint ldb, float beta, float* C, blasint ldc) {
    scipy_cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

inline void gemv_raw(CBLAS_TRANSPOSE t, blasint M, blasint N, double alpha, const double* A, blasint lda,
                     const double* x, blasint incx, double beta, double* y, blasint incy) {
    scipy_cblas_dgemv(CblasRowMajor, t, M, N, alpha, A, lda, x, incx, beta, y, incy);
}
inline void gemv_raw(CBLAS_TRANSPOSE t, blasint M, blasint N, float alpha, const float* A, blasint lda,
                     const float* x, blasint incx, float beta, float* y, blasint incy) {
    scipy_cblas_sgemv(CblasRowMajor, t, M, N, alpha, A, lda, x, incx, beta, y, incy);
}

inline void gemm_batch_raw(const CBLAS_TRANSPOSE* ta, const CBLAS_TRANSPOSE* tb, const blasint* M, const blasint* N,
                           const blasint* K, const double* alpha, const double** A, const blasint* lda,
                           const double** B, const blasint* ldb, const double* beta, double** C, const blasint* ldc,
                           blasint groups, const blasint* group_size) {
    scipy_cblas_dgemm_batch(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, groups, group_size);
}
inline void gemm_batch_raw(const CBLAS_TRANSPOSE* ta, const CBLAS_TRANSPOSE* tb, const blasint* M, const blasint* N,
                           const blasint* K, const float* alpha, const float** A, const blasint* lda,
                           const float** B, const blasint* ldb, const float* beta, float** C, const blasint* ldc,
                           blasint groups, const blasint* group_size) {
    scipy_cblas_sgemm_batch(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, groups, group_size);
}

// Distance between consecutive elements of a one-column view.
template <class T>
blasint column_stride(Matrix<T> v) { return v.col_major ? 1 : static_cast<blasint>(v.ld); }

// C = alpha A B + beta C, for views in any storage order: a column-major operand is passed to the
// row-major gemm as its transpose, so no operand is ever copied.
template <class T>
void gemm(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    if (A.cols != B.rows || C.rows != A.rows || C.cols != B.cols)
        throw std::invalid_argument("gemm: inconsistent shapes");
    if (C.rows == 0 || C.cols == 0) return;
    // A product with one row or one column is a matrix-vector product, which gemm kernels do poorly
    // (logistic regression's W X, the output layer): C^T = B^T A^T turns a row into a column.
    if (C.rows == 1 && C.cols > 1 && A.cols > 0) {
        gemm<T>(alpha, B.t(), A.t(), beta, C.t());
        return;
    }
    if (C.cols == 1 && A.cols > 0) {
        const blasint incy = column_stride(C);
        if (beta == T(0))  // beta = 0 must ignore what C held (even NaN), as for gemm
            for (index i = 0; i < C.rows; ++i) C.data[i * incy] = T(0);
        // A row-major is (M x K) as stored; A column-major is stored as its (K x M) transpose
        gemv_raw(A.col_major ? CblasTrans : CblasNoTrans, static_cast<blasint>(A.col_major ? A.cols : A.rows),
                 static_cast<blasint>(A.col_major ? A.rows : A.cols), alpha, A.data, static_cast<blasint>(A.ld),
                 B.data, column_stride(B), beta, C.data, incy);
        return;
    }
    if (C.col_major) {  // C^T = B^T A^T, and C^T is row-major
        gemm<T>(alpha, B.t(), A.t(), beta, C.t());
        return;
    }
    if (A.cols == 0) {  // empty inner dimension: BLAS may skip the beta scaling, so do it here
        for (index i = 0; i < C.rows; ++i)
            for (index j = 0; j < C.cols; ++j) C(i, j) = beta == T(0) ? T(0) : beta * C(i, j);
        return;
    }
    gemm_raw(A.col_major ? CblasTrans : CblasNoTrans, B.col_major ? CblasTrans : CblasNoTrans,
             static_cast<blasint>(C.rows), static_cast<blasint>(C.cols), static_cast<blasint>(A.cols), alpha,
             A.data, static_cast<blasint>(A.ld), B.data, static_cast<blasint>(B.ld), beta, C.data,
             static_cast<blasint>(C.ld));
}

inline void set_num_threads(int n) { scipy_openblas_set_num_threads(n); }
inline int get_num_threads() { return scipy_openblas_get_num_threads(); }

// Whether C = A B is better split along K over two threads: a small output with a long inner dimension
// (the first layer's W1 X when examples are few and features many), which OpenBLAS's own threading, over the
// rows and columns of C, divides poorly (measured for (20 x 12288) (12288 x 209): 55 GFLOP/s as one gemm,
// 87 as two halves of K run side by side).
template <class T>
bool worth_splitting_k(Matrix<const T> A, Matrix<const T> B) {
    const index M = A.rows, N = B.cols, K = A.cols;
    return get_num_threads() >= 2 && M > 1 && N > 1 && M <= 64 && K >= 8 * N && M * N * K >= (index(1) << 22);
}

// C = A B with K split in two halves that OpenBLAS computes side by side (the members of a gemm batch run on
// its threads): the first half goes to C, the second to `scratch` (M x N), which is then added. C must be
// row-major and contiguous.
template <class T>
void gemm_split_k(Matrix<const T> A, Matrix<const T> B, Matrix<T> C, T* scratch) {
    const index K1 = A.cols / 2, K2 = A.cols - K1;
    const Matrix<const T> parts_A[2] = {A.block(0, 0, A.rows, K1), A.block(0, K1, A.rows, K2)};
    const Matrix<const T> parts_B[2] = {B.block(0, 0, K1, B.cols), B.block(K1, 0, K2, B.cols)};
    CBLAS_TRANSPOSE ta[2], tb[2];
    blasint M[2], N[2], K[2], lda[2], ldb[2], ldc[2], group_size[2] = {1, 1};
    T alpha[2] = {T(1), T(1)}, beta[2] = {T(0), T(0)};
    const T *pa[2], *pb[2];
    T* pc[2] = {C.data, scratch};
    for (int h = 0; h < 2; ++h) {
        ta[h] = parts_A[h].col_major ? CblasTrans : CblasNoTrans;
        tb[h] = parts_B[h].col_major ? CblasTrans : CblasNoTrans;
        M[h] = static_cast<blasint>(C.rows);
        N[h] = static_cast<blasint>(C.cols);
        K[h] = static_cast<blasint>(parts_A[h].cols);
        pa[h] = parts_A[h].data;
        pb[h] = parts_B[h].data;
        lda[h] = static_cast<blasint>(A.ld);
        ldb[h] = static_cast<blasint>(B.ld);
        ldc[h] = static_cast<blasint>(C.cols);
    }
    gemm_batch_raw(ta, tb, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, ldc, 2, group_size);
    add<T>(C.data, scratch, C.data, C.size());
}



}  // namespace nn::blas
