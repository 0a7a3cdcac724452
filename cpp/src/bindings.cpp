// nn._core: the only file that knows Python. Arrays arrive already validated by the Python layer
// (dtype, shapes, finiteness); here we only check what would otherwise touch memory wrongly
// (dimensions, contiguity, shapes) and turn C++ exceptions into ValueError / MemoryError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "nn/activations.hpp"
#include "nn/blas.hpp"
#include "nn/dense.hpp"
#include "nn/loss.hpp"
#include "nn/network.hpp"

namespace py = pybind11;
using idx = nn::index;  // (a bare `index` would clash with POSIX index())
using nn::Matrix;

namespace {

// An ndarray of exactly dtype T, any strides (no implicit conversion: the Python layer converts once).
template <class T>
using Array = py::array_t<T, 0>;

std::string shape_str(idx r, idx c) { return "(" + std::to_string(r) + ", " + std::to_string(c) + ")"; }

// A 2-D C- or F-contiguous array as a Matrix view, without copying.
template <class T>
Matrix<const T> view(const Array<T>& a, const char* name) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + ": expected a 2-D array");
    const int flags = a.flags();
    if (flags & py::array::c_style) return {a.data(), a.shape(0), a.shape(1), false};
    if (flags & py::array::f_style) return {a.data(), a.shape(0), a.shape(1), true};
    throw std::invalid_argument(std::string(name) + ": expected a C- or F-contiguous array");
}

template <class T>
void expect_shape(Matrix<const T> M, idx rows, idx cols, const char* name) {
    if (M.rows != rows || M.cols != cols)
        throw std::invalid_argument(std::string(name) + ": expected shape " + shape_str(rows, cols) + ", got " +
                                    shape_str(M.rows, M.cols));
}

// b as a contiguous (n, 1) or (n,) vector.
template <class T>
const T* bias(const Array<T>& b, idx n, const char* name) {
    const bool ok_shape = (b.ndim() == 2 && b.shape(0) == n && b.shape(1) == 1) || (b.ndim() == 1 && b.shape(0) == n);
    if (!ok_shape) throw std::invalid_argument(std::string(name) + ": expected shape (" + std::to_string(n) + ", 1)");
    if (!(b.flags() & py::array::c_style)) throw std::invalid_argument(std::string(name) + ": expected a contiguous array");
    return b.data();
}

template <class T>
Array<T> new_matrix(idx rows, idx cols, bool col_major = false) {
    std::vector<py::ssize_t> shape{rows, cols};
    std::vector<py::ssize_t> strides = col_major
        ? std::vector<py::ssize_t>{static_cast<py::ssize_t>(sizeof(T)), static_cast<py::ssize_t>(sizeof(T) * rows)}
        : std::vector<py::ssize_t>{static_cast<py::ssize_t>(sizeof(T) * cols), static_cast<py::ssize_t>(sizeof(T))};
    return Array<T>(shape, strides);
}

template <class T>
Matrix<T> mutable_view(Array<T>& a) {
    const bool col_major = !(a.flags() & py::array::c_style);
    return {a.mutable_data(), a.shape(0), a.shape(1), col_major};
}

// Two elementwise operands must share a storage order to be walked as flat arrays.
template <class T>
void expect_same_layout(Matrix<const T> x, Matrix<const T> y, const char* xn, const char* yn) {
    if (x.rows != y.rows || x.cols != y.cols)
        throw std::invalid_argument(std::string(yn) + ": expected the shape of " + xn + " " + shape_str(x.rows, x.cols));
    if (x.rows > 1 && x.cols > 1 && x.col_major != y.col_major)
        throw std::invalid_argument(std::string(xn) + " and " + yn + " must share a memory order");
}

// ---- per-operation kernels (nn.functional) ----

template <class T>
Array<T> linear_forward(const Array<T>& A_prev_a, const Array<T>& W_a, const Array<T>& b_a) {
    auto A_prev = view(A_prev_a, "A_prev");
    auto W = view(W_a, "W");
    if (W.cols != A_prev.rows)
        throw std::invalid_argument("W: expected " + std::to_string(A_prev.rows) + " columns to match A_prev, got " +
                                    std::to_string(W.cols));
    const T* b = bias(b_a, W.rows, "b");
    Array<T> Z = new_matrix<T>(W.rows, A_prev.cols);
    {
        py::gil_scoped_release release;
        nn::dense_forward<T>(W, b, A_prev, nn::Activation::linear, mutable_view(Z));
    }
    return Z;
}

template <class T>
Array<T> activation_forward(const Array<T>& Z_a, const std::string& name) {
    const nn::Activation g = nn::activation_from_name(name);
    auto Z = view(Z_a, "Z");
    Array<T> A = new_matrix<T>(Z.rows, Z.cols, Z.col_major);
    T* out = A.mutable_data();
    {
        py::gil_scoped_release release;
        nn::activation_forward<T>(g, Z.data, nullptr, out, 1, Z.size());
    }
    return A;
}

template <class T>
Array<T> activation_backward(const Array<T>& dA_a, const Array<T>& Z_a, const std::string& name) {
    const nn::Activation g = nn::activation_from_name(name);
    auto dA = view(dA_a, "dA");
    auto Z = view(Z_a, "Z");
    expect_same_layout(dA, Z, "dA", "Z");
    Array<T> dZ = new_matrix<T>(Z.rows, Z.cols, dA.col_major);
    T* out = dZ.mutable_data();
    {
        py::gil_scoped_release release;
        nn::activation_backward<T>(g, dA.data, Z.data, out, Z.size());
    }
    return dZ;
}

template <class T>
py::tuple linear_backward(const Array<T>& dZ_a, const Array<T>& A_prev_a, const Array<T>& W_a, bool need_dA_prev) {
    auto dZ = view(dZ_a, "dZ");
    auto A_prev = view(A_prev_a, "A_prev");
    auto W = view(W_a, "W");
    expect_shape(A_prev, A_prev.rows, dZ.cols, "A_prev");
    expect_shape(W, dZ.rows, A_prev.rows, "W");
    Array<T> dW = new_matrix<T>(W.rows, W.cols);
    Array<T> db = new_matrix<T>(W.rows, 1);
    py::object dA_prev_obj = py::none();
    Matrix<T> dA_prev;
    if (need_dA_prev) {
        Array<T> dA_prev_a = new_matrix<T>(A_prev.rows, A_prev.cols);
        dA_prev = mutable_view(dA_prev_a);
        dA_prev_obj = dA_prev_a;
    }
    {
        py::gil_scoped_release release;
        nn::dense_backward<T>(dZ, A_prev, W, mutable_view(dW), db.mutable_data(), dA_prev);
    }
    return py::make_tuple(dA_prev_obj, dW, db);
}

template <class T>
double cost(const Array<T>& AL_a, const Array<T>& Y_a) {
    auto AL = view(AL_a, "AL");
    auto Y = view(Y_a, "Y");
    expect_same_layout(AL, Y, "AL", "Y");
    return nn::cross_entropy<T>(AL.data, Y.data, AL.size(), AL.cols);
}

template <class T>
double cost_from_logits(const Array<T>& Z_a, const Array<T>& Y_a) {
    auto Z = view(Z_a, "Z");
    auto Y = view(Y_a, "Y");
    expect_same_layout(Z, Y, "Z", "Y");
    return nn::cross_entropy_from_logits<T>(Z.data, Y.data, Z.size(), Z.cols);
}

// P - learning_rate * dP, elementwise, in the storage order of P.
template <class T>
Array<T> update(const Array<T>& P_a, const Array<T>& dP_a, double learning_rate) {
    auto P = view(P_a, "W");
    auto dP = view(dP_a, "dW");
    expect_same_layout(P, dP, "W", "dW");
    Array<T> out = new_matrix<T>(P.rows, P.cols, P.col_major);
    T* o = out.mutable_data();
    const T lr = static_cast<T>(learning_rate);
    std::memcpy(o, dP.data, static_cast<std::size_t>(P.size()) * sizeof(T));
    nn::descend<T>(P.data, lr, o, P.size());
    return out;
}

// ---- the network ----

// Holds the mutex while a method runs. Waiting happens with the GIL released, so two Python threads using
// one network are serialised instead of deadlocking, and its parameters are never touched by two at once.
class Exclusive {
   public:
    explicit Exclusive(std::mutex& mu) : lock_(mu, std::defer_lock) {
        if (!lock_.try_lock()) {
            py::gil_scoped_release release;
            lock_.lock();
        }
    }

   private:
    std::unique_lock<std::mutex> lock_;
};

template <class T>
class PyNetwork {
   public:
    PyNetwork(const std::vector<idx>& layer_dims, const std::vector<std::string>& activations)
        : net_(layer_dims, names_to_activations(activations)) {}

    py::list get_params() {
        Exclusive ex(mu_);
        sync_params();
        py::list params;
        for (const auto& layer : net_.layers()) {
            Array<T> W = new_matrix<T>(layer.n, layer.n_prev);
            Array<T> b = new_matrix<T>(layer.n, 1);
            std::memcpy(W.mutable_data(), layer.W.data(), layer.W.size() * sizeof(T));
            std::memcpy(b.mutable_data(), layer.b.data(), layer.b.size() * sizeof(T));
            params.append(py::make_tuple(W, b));
        }
        return params;
    }

    // All shapes are checked before anything is written, so a bad list leaves the parameters as they were.
    void set_params(const std::vector<std::pair<Array<T>, Array<T>>>& params) {
        Exclusive ex(mu_);
        if (fit_.Y) throw std::runtime_error("cannot set parameters while a fit is in progress");
        auto& layers = net_.layers();
        if (params.size() != layers.size())
            throw std::invalid_argument("params: expected " + std::to_string(layers.size()) + " (W, b) pairs");
        std::vector<Matrix<const T>> Ws;
        std::vector<const T*> bs;
        for (std::size_t l = 0; l < layers.size(); ++l) {
            const std::string wn = "W" + std::to_string(l + 1), bn = "b" + std::to_string(l + 1);
            auto W = view(params[l].first, wn.c_str());
            expect_shape(W, layers[l].n, layers[l].n_prev, wn.c_str());
            Ws.push_back(W);
            bs.push_back(bias(params[l].second, layers[l].n, bn.c_str()));
        }
        for (std::size_t l = 0; l < layers.size(); ++l) {
            for (idx i = 0; i < layers[l].n; ++i) {
                for (idx j = 0; j < layers[l].n_prev; ++j) layers[l].W[i * layers[l].n_prev + j] = Ws[l](i, j);
                layers[l].b[i] = bs[l][i];
            }
        }
    }

    // A fit is begin_fit, train(0) for the starting cost, train(n) up to each record point, end_fit. Between
    // begin_fit and end_fit the network keeps references to X and Y and its workspace, allocated here once.
    void begin_fit(const Array<T>& X_a, const Array<T>& Y_a, double learning_rate, bool gram) {
        Exclusive ex(mu_);
        end_fit_locked();
        auto X = view(X_a, "X");
        auto Y = check_xy(X, Y_a);
        py::gil_scoped_release release;
        ws_ = net_.plan_threads(X, gram);
        if (gram) net_.begin_gram(X, static_cast<T>(learning_rate), ws_);
        // Only now, with every allocation done, does the fit hold the arrays.
        py::gil_scoped_acquire acquire;
        fit_ = Fit{X_a, Y_a, X, Y.data, static_cast<T>(learning_rate)};
    }

    // Runs `iterations` training iterations with the GIL released; returns (cost of the parameters reached,
    // iterations completed, whether a non-finite cost stopped it, whether the step before it was undone).
    // train(0) gives the cost of the starting parameters. Ctrl-C is noticed within ~50 ms: the loop stops
    // after the iteration in progress and KeyboardInterrupt is raised, leaving the parameters of that
    // completed iteration.
    py::tuple train(std::int64_t iterations) {
        Exclusive ex(mu_);
        require_fit();
        using clock = std::chrono::steady_clock;
        auto last_check = clock::now();
        bool interrupted = false;
        auto stop = [&]() {
            const auto now = clock::now();
            if (now - last_check < std::chrono::milliseconds(50)) return false;
            last_check = now;
            py::gil_scoped_acquire acquire;
            interrupted = PyErr_CheckSignals() != 0;
            return interrupted;
        };
        nn::TrainResult r;
        {
            py::gil_scoped_release release;
            r = net_.train(fit_.X, fit_.Y, fit_.learning_rate, iterations, ws_, stop);
        }
        if (interrupted) throw py::error_already_set();
        return py::make_tuple(r.cost, r.done, r.diverged, r.reverted);
    }

    // Forms W[1] if the Gram path deferred it, frees the workspace and lets go of X and Y.
    void end_fit() {
        Exclusive ex(mu_);
        end_fit_locked();
    }

    double cost(const Array<T>& X_a, const Array<T>& Y_a) {
        Exclusive ex(mu_);
        sync_params();
        auto X = view(X_a, "X");
        auto Y = check_xy(X, Y_a);
        py::gil_scoped_release release;
        return net_.evaluate(X, Y.data, nullptr);
    }

    Array<T> predict_proba(const Array<T>& X_a) {
        Exclusive ex(mu_);
        sync_params();
        auto X = view(X_a, "X");
        expect_shape(X, net_.layer_dims()[0], X.cols, "X");
        Array<T> AL = new_matrix<T>(net_.layer_dims().back(), X.cols);
        T* out = AL.mutable_data();
        py::gil_scoped_release release;
        net_.evaluate(X, nullptr, out);
        return AL;
    }

    std::vector<idx> layer_dims() const { return net_.layer_dims(); }

    // How the current fit's training loop runs: (threads the examples are split across, 1 meaning one thread
    // with OpenBLAS's own threading inside the products; whether layer 1 is streamed, one pass over X per
    // iteration; whether iterations too small to share keep OpenBLAS at one thread). (0, False, False) when
    // no fit is in progress.
    py::tuple fit_plan() {
        Exclusive ex(mu_);
        if (!fit_.X_obj) return py::make_tuple(0, false, false);
        return py::make_tuple(std::max(ws_.slices, ws_.team.size), ws_.streamed, ws_.one_thread);
    }

   private:
    static std::vector<nn::Activation> names_to_activations(const std::vector<std::string>& names) {
        std::vector<nn::Activation> out;
        for (const auto& name : names) out.push_back(nn::activation_from_name(name));
        return out;
    }

    Matrix<const T> check_xy(Matrix<const T> X, const Array<T>& Y_a) {
        expect_shape(X, net_.layer_dims()[0], X.cols, "X");
        auto Y = view(Y_a, "Y");
        expect_shape(Y, net_.layer_dims().back(), X.cols, "Y");
        if (Y.rows > 1 && Y.col_major) throw std::invalid_argument("Y: expected a C-contiguous array");
        return Y;
    }

    struct Fit {
        py::object X_obj, Y_obj;  // keep the arrays alive while views of them are in use
        Matrix<const T> X;
        const T* Y = nullptr;
        T learning_rate = 0;
    };

    void require_fit() const {
        if (!fit_.Y) throw std::runtime_error("no fit in progress: call begin_fit first");
    }

    // Parameters handed out while a Gram fit runs must be the current ones: form W[1] first.
    void sync_params() {
        if (fit_.Y) net_.materialize_gram(fit_.X, ws_);
    }

    void end_fit_locked() {
        sync_params();
        ws_ = nn::Workspace<T>{};
        fit_ = Fit{};
    }

    nn::Network<T> net_;
    nn::Workspace<T> ws_;
    Fit fit_;
    std::mutex mu_;
};

template <class T>
void bind_dtype(py::module_& m, const char* suffix) {
    const std::string s = suffix;
    m.def(("linear_forward_" + s).c_str(), &linear_forward<T>, py::arg("A_prev").noconvert(), py::arg("W").noconvert(),
          py::arg("b").noconvert());
    m.def(("activation_forward_" + s).c_str(), &activation_forward<T>, py::arg("Z").noconvert(), py::arg("name"));
    m.def(("activation_backward_" + s).c_str(), &activation_backward<T>, py::arg("dA").noconvert(),
          py::arg("Z").noconvert(), py::arg("name"));
    m.def(("linear_backward_" + s).c_str(), &linear_backward<T>, py::arg("dZ").noconvert(),
          py::arg("A_prev").noconvert(), py::arg("W").noconvert(), py::arg("need_dA_prev") = true);
    m.def(("cost_" + s).c_str(), &cost<T>, py::arg("AL").noconvert(), py::arg("Y").noconvert());
    m.def(("cost_from_logits_" + s).c_str(), &cost_from_logits<T>, py::arg("Z").noconvert(), py::arg("Y").noconvert());
    m.def(("update_" + s).c_str(), &update<T>, py::arg("W").noconvert(), py::arg("dW").noconvert(),
          py::arg("learning_rate"));

    py::class_<PyNetwork<T>>(m, ("Network_" + s).c_str())
        .def(py::init<const std::vector<idx>&, const std::vector<std::string>&>(), py::arg("layer_dims"),
             py::arg("activations"))
        .def("get_params", &PyNetwork<T>::get_params)
        .def("set_params", &PyNetwork<T>::set_params, py::arg("params"))
        .def("begin_fit", &PyNetwork<T>::begin_fit, py::arg("X").noconvert(), py::arg("Y").noconvert(),
             py::arg("learning_rate"), py::arg("gram"))
        .def("train", &PyNetwork<T>::train, py::arg("iterations"))
        .def("end_fit", &PyNetwork<T>::end_fit)
        .def("fit_plan", &PyNetwork<T>::fit_plan)
        .def("cost", &PyNetwork<T>::cost, py::arg("X").noconvert(), py::arg("Y").noconvert())
        .def("predict_proba", &PyNetwork<T>::predict_proba, py::arg("X").noconvert())
        .def_property_readonly("layer_dims", &PyNetwork<T>::layer_dims);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "nn's C++ engine. Use the nn package; these functions trust the validation it does.";
    bind_dtype<double>(m, "float64");
    bind_dtype<float>(m, "float32");
    m.def("blas_get_num_threads", &nn::blas::get_num_threads);
    m.def("blas_set_num_threads", &nn::blas::set_num_threads, py::arg("n"));
    // the sequential BLAS for one-thread products (sequential_blas.hpp); nn/_blas.py chooses it
    m.def("load_mkl", &nn::blas::load_mkl, py::arg("path"));
    m.def("use_sequential_blas", &nn::blas::use_sequential_blas, py::arg("on"));
    m.def("sequential_blas_on", [] { return nn::blas::sequential_blas() != nullptr; });
    // whether a first layer of several units can be streamed on this CPU (streamed_first_layer.hpp)
    m.def("streamed_units_supported", &nn::streamed_units_supported);
    // the workspace's sizes, for fit's memory check before it allocates (nn/network.py, _workspace_bytes)
    m.attr("dA_block_bytes") = nn::dA_block_bytes;
    m.attr("dA_whole_fraction") = nn::dA_whole_fraction;
    m.attr("streamed_max_m") = nn::streamed_max_m;
    m.attr("streamed_max_units") = nn::streamed_max_units;
    m.attr("streamed_units_max_part_bytes") = nn::streamed_units_max_part_bytes;
    m.def("streamed_part_stride", [](nn::index part, int itemsize) {
        return itemsize == 4 ? nn::streamed_part_stride<float>(part) : nn::streamed_part_stride<double>(part);
    }, py::arg("part"), py::arg("itemsize"));
    m.def("streamed_units_padding", [](nn::index n1, int itemsize) {
        return itemsize == 4 ? nn::streamed_units_padding<float>(n1) : nn::streamed_units_padding<double>(n1);
    }, py::arg("n1"), py::arg("itemsize"));
    // whether narrow layers run through their one-pass kernels on this CPU, and so train on a narrow team
    // (narrow_layer.hpp, Network::train_narrow_team)
    m.def("narrow_layers_supported", &nn::narrow_layers_supported);
}
