#pragma once
// The only file that knows BLAS: a typed gemm over Matrix views (OpenBLAS from scipy-openblas32,
// whose symbols carry the scipy_ prefix).
#include <cblas.h>
#include <stdexcept>

#include "nn/matrix.hpp"

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

}  // namespace nn::blas
