#pragma once
// The only file that calls BLAS: a typed gemm over Matrix views (OpenBLAS from scipy-openblas32, whose symbols
// carry the scipy_ prefix, or for products on one thread the sequential BLAS the user chose, sequential_blas.hpp).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "nn/matrix.hpp"
#include "nn/sequential_blas.hpp"
#include "nn/short_products.hpp"
#include "nn/vector_ops.hpp"

namespace nn::blas {

inline int get_num_threads() { return scipy_openblas_get_num_threads(); }

// How many OneThreadHeld (below) this thread has made and not yet dropped.
inline int& holds_on_this_thread() {
    static thread_local int n = 0;
    return n;
}

// The sequential BLAS, when one is switched on and the caller runs nn's own threading: a member of a team of
// column slices, or a thread holding OpenBLAS at one thread (the team's master, a tiny iteration, a one-thread
// limit). Decided by the calling thread alone, never by OpenBLAS's count, which another fit's hold may have
// lowered: a product's library, and so its bits, must not depend on what else runs in the process.
inline const SequentialBlas* sequential_now() {
    const SequentialBlas* s = sequential_blas();
    return s && (holds_on_this_thread() > 0 || omp_in_parallel()) ? s : nullptr;
}

inline void gemm_raw(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, double alpha,
                     const double* A, blasint lda, const double* B, blasint ldb, double beta, double* C, blasint ldc) {
    if (const SequentialBlas* s = sequential_now())
        s->dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        scipy_cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm_raw(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, float alpha,
                     const float* A, blasint lda, const float* B, blasint ldb, float beta, float* C, blasint ldc) {
    if (const SequentialBlas* s = sequential_now())
        s->sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        scipy_cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

inline void gemv_raw(CBLAS_TRANSPOSE t, blasint M, blasint N, double alpha, const double* A, blasint lda,
                     const double* x, blasint incx, double beta, double* y, blasint incy) {
    if (const SequentialBlas* s = sequential_now())
        s->dgemv(CblasRowMajor, t, M, N, alpha, A, lda, x, incx, beta, y, incy);
    else
        scipy_cblas_dgemv(CblasRowMajor, t, M, N, alpha, A, lda, x, incx, beta, y, incy);
}
inline void gemv_raw(CBLAS_TRANSPOSE t, blasint M, blasint N, float alpha, const float* A, blasint lda,
                     const float* x, blasint incx, float beta, float* y, blasint incy) {
    if (const SequentialBlas* s = sequential_now())
        s->sgemv(CblasRowMajor, t, M, N, alpha, A, lda, x, incx, beta, y, incy);
    else
        scipy_cblas_sgemv(CblasRowMajor, t, M, N, alpha, A, lda, x, incx, beta, y, incy);
}

// Only ever called with OpenBLAS at two threads or more (worth_splitting_n/k), so always OpenBLAS's.
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

// Whether C = A B is better computed as two halves of its columns side by side: few rows, very many columns
// and a short K (the first layer's dW1 = dZ1 X^T / m when examples are few and features many). Measured for
// (20 x 209) (209 x 12288): 71 GFLOP/s as one gemm, 87 as two halves, with the same bits.
template <class T>
bool worth_splitting_n(Matrix<const T> A, Matrix<const T> B) {
    const index M = A.rows, N = B.cols, K = A.cols;
    return get_num_threads() >= 2 && M > 1 && M <= 64 && N >= 16 * K && M * N * K >= (index(1) << 22);
}

// Two products C_h = alpha A_h B_h + beta C_h (C_h row-major with leading dimension ldc), run side by side by
// OpenBLAS: the members of a gemm batch run on its threads.
template <class T>
void gemm_pair(T alpha, const Matrix<const T> (&A)[2], const Matrix<const T> (&B)[2], T beta, T* const (&C)[2],
               index ldc) {
    CBLAS_TRANSPOSE ta[2], tb[2];
    blasint M[2], N[2], K[2], lda[2], ldb[2], ldcs[2], group_size[2] = {1, 1};
    T alphas[2] = {alpha, alpha}, betas[2] = {beta, beta};
    const T *pa[2], *pb[2];
    T* pc[2] = {C[0], C[1]};
    for (int h = 0; h < 2; ++h) {
        ta[h] = A[h].col_major ? CblasTrans : CblasNoTrans;
        tb[h] = B[h].col_major ? CblasTrans : CblasNoTrans;
        M[h] = static_cast<blasint>(A[h].rows);
        N[h] = static_cast<blasint>(B[h].cols);
        K[h] = static_cast<blasint>(A[h].cols);
        pa[h] = A[h].data;
        pb[h] = B[h].data;
        lda[h] = static_cast<blasint>(A[h].ld);
        ldb[h] = static_cast<blasint>(B[h].ld);
        ldcs[h] = static_cast<blasint>(ldc);
    }
    gemm_batch_raw(ta, tb, M, N, K, alphas, pa, lda, pb, ldb, betas, pc, ldcs, 2, group_size);
}

// C = alpha A B + beta C as two gemms over the two halves of C's columns, side by side. Each element is
// computed exactly as by one gemm. C row-major.
template <class T>
void gemm_split_n(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    const index N1 = C.cols / 2;
    gemm_pair<T>(alpha, {A, A}, {B.block(0, 0, B.rows, N1), B.block(0, N1, B.rows, C.cols - N1)}, beta,
                 {C.data, C.data + N1}, C.ld);
}

template <class T>
void gemm_blas(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C);

// C = alpha A B + beta C, for views in any storage order: a column-major operand is passed to the
// row-major gemm as its transpose, so no operand is ever copied. Tiny products with a short K or a short
// output go to nn's own kernels on CPUs where they beat OpenBLAS's entry costs (short_products.hpp).
template <class T>
void gemm(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    if (A.cols != B.rows || C.rows != A.rows || C.cols != B.cols)
        throw std::invalid_argument("gemm: inconsistent shapes");
    if (C.rows == 0 || C.cols == 0) return;
    if (!B.col_major && !C.col_major && short_k_pays(C.rows, C.cols, A.cols) && short_products_supported())
        gemm_short_k<T>(alpha, A, B, beta, C);
    else if (!A.col_major && B.col_major && short_mn_pays(C.rows, C.cols, A.cols) && short_products_supported())
        gemm_short_mn<T>(alpha, A, B, beta, C);
    else
        gemm_blas<T>(alpha, A, B, beta, C);
}

// gemm through BLAS (shapes checked and C not empty). A transposed product goes back through gemm.
template <class T>
void gemm_blas(T alpha, Matrix<const T> A, Matrix<const T> B, T beta, Matrix<T> C) {
    // A product with one row or one column is a matrix-vector product, which gemm kernels do poorly
    // (logistic regression's W X, the output layer): C^T = B^T A^T turns a row into a column.
    if (C.rows == 1 && C.cols > 1 && A.cols > 0) {
        gemm<T>(alpha, B.t(), A.t(), beta, C.t());
        return;
    }
    if (C.cols == 1 && A.cols > 0) {
        const blasint incy = column_stride(C);
        if (beta == T(0)) {  // beta = 0 must ignore what C held (even NaN), as for gemm
            if (incy == 1)
                std::fill_n(C.data, C.rows, T(0));
            else
                for (index i = 0; i < C.rows; ++i) C.data[i * incy] = T(0);
        }
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
    if (worth_splitting_n(A, B)) {
        gemm_split_n<T>(alpha, A, B, beta, C);
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

// Holds OpenBLAS at one thread while it lives (while a team of column slices does the threading, see
// parallel.hpp). The thread count is one setting for the whole process and fits of different networks may run
// at once, so holds are counted: the first saves the count it finds, the last gives it back, and
// wanted_threads() reports the saved count meanwhile.
class OneThreadHeld {
   public:
    OneThreadHeld() {
        std::lock_guard<std::mutex> lock(mu());
        if (holders()++ == 0) {
            saved() = get_num_threads();
            if (saved() != 1) set_num_threads(1);
        }
        ++holds_on_this_thread();
    }
    ~OneThreadHeld() {
        std::lock_guard<std::mutex> lock(mu());
        if (--holders() == 0 && saved() != 1) set_num_threads(saved());
        --holds_on_this_thread();
    }
    OneThreadHeld(const OneThreadHeld&) = delete;
    OneThreadHeld& operator=(const OneThreadHeld&) = delete;

    // The thread count OpenBLAS was given by its user (threadpoolctl, OPENBLAS_NUM_THREADS), held or not.
    static int wanted_threads() {
        std::lock_guard<std::mutex> lock(mu());
        return holders() > 0 ? saved() : get_num_threads();
    }

   private:
    static std::mutex& mu() {
        static std::mutex m;
        return m;
    }
    static int& holders() {
        static int n = 0;
        return n;
    }
    static int& saved() {
        static int n = 1;
        return n;
    }
};

// Whether C = A B is better split along K over two threads: a small output with a long inner dimension
// (the first layer's W1 X when examples are few and features many), which OpenBLAS's own threading, over the
// rows and columns of C, divides poorly (measured for (20 x 12288) (12288 x 209): 55 GFLOP/s as one gemm,
// 87 as two halves of K run side by side).
template <class T>
bool worth_splitting_k(Matrix<const T> A, Matrix<const T> B) {
    const index M = A.rows, N = B.cols, K = A.cols;
    return get_num_threads() >= 2 && M > 1 && N > 1 && M <= 64 && K >= 8 * N && M * N * K >= (index(1) << 22);
}

// C = A B with K split in two halves computed side by side: the first half goes to C, the second to
// `scratch` (M x N), which is then added. C must be row-major and contiguous.
template <class T>
void gemm_split_k(Matrix<const T> A, Matrix<const T> B, Matrix<T> C, T* scratch) {
    const index K1 = A.cols / 2, K2 = A.cols - K1;
    gemm_pair<T>(T(1), {A.block(0, 0, A.rows, K1), A.block(0, K1, A.rows, K2)},
                 {B.block(0, 0, K1, B.cols), B.block(K1, 0, K2, B.cols)}, T(0), {C.data, scratch}, C.cols);
    add<T>(C.data, scratch, C.data, C.size());
}

}  // namespace nn::blas
