#pragma once
// A non-owning view of a dense (rows x cols) matrix in row-major (C) or column-major (F) memory.
// NumPy hands us either order; a transpose is a view with the order flipped, never a copy.
#include <cstdint>

namespace nn {

using index = std::int64_t;

template <class T>
struct Matrix {
    T* data = nullptr;
    index rows = 0, cols = 0;
    bool col_major = false;
    index ld = 0;  // leading dimension of the stored order (>= cols if row-major, >= rows if col-major)

    Matrix() = default;
    Matrix(T* data_, index rows_, index cols_, bool col_major_ = false, index ld_ = 0)
        : data(data_), rows(rows_), cols(cols_), col_major(col_major_),
          ld(ld_ ? ld_ : (col_major_ ? rows_ : cols_)) {}

    // Every Matrix<T> is usable where a Matrix<const T> is expected.
    operator Matrix<const T>() const { return {data, rows, cols, col_major, ld}; }

    // (rows x cols) in one order is (cols x rows) in the other: the transpose costs nothing.
    Matrix t() const { return {data, cols, rows, !col_major, ld}; }

    // The (r x c) sub-matrix starting at (i0, j0), a view into the same memory.
    Matrix block(index i0, index j0, index r, index c) const {
        return {col_major ? data + j0 * ld + i0 : data + i0 * ld + j0, r, c, col_major, ld};
    }

    index size() const { return rows * cols; }
    bool contiguous() const { return ld == (col_major ? rows : cols); }
    T& operator()(index i, index j) const { return col_major ? data[j * ld + i] : data[i * ld + j]; }
};

}  // namespace nn
