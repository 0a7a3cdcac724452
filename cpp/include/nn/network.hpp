#pragma once
// The L-layer network: parameters, gradients, a workspace sized for m examples, forward, cost, backward,
// the gradient-descent step, and the training loop that repeats them without allocating.
//
// Layer l = 1..L is layers[l-1]. Hidden layers use their own activation; the output layer is sigmoid with
// binary cross-entropy, so backward starts from dZ[L] = A[L] - Y.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/activations.hpp"
#include "nn/dense.hpp"
#include "nn/gram.hpp"
#include "nn/loss.hpp"
#include "nn/matrix.hpp"

namespace nn {

template <class T>
struct Layer {
    index n, n_prev;
    Activation g;
    std::vector<T> W, b;    // (n, n_prev) row-major, (n, 1)
    std::vector<T> dW, db;  // gradients of the last backward pass, same shapes

    Matrix<T> W_mat() { return {W.data(), n, n_prev}; }
    Matrix<const T> W_mat() const { return {W.data(), n, n_prev}; }
};

// Buffers for one m, allocated once. A[l] holds g(Z[l]) after forward and is overwritten with dZ[l] by
// backward (A[l] is no longer needed once dW[l+1] is formed), so each hidden layer costs one (n x m) buffer.
template <class T>
struct Workspace {
    index m = 0;
    std::vector<std::vector<T>> A;  // A[l-1] is A[l], (n[l] x m), for l = 1..L
    std::vector<T> ZL;              // Z[L], kept for the stable cost
    std::vector<T> dA;              // W[l]^T dZ[l] for l >= 2, (max n[l-1] x m)
    GramFirstLayer<T> gram;         // when active, layer 1 runs in Gram space (see gram.hpp)
    // The step writes W - lr dW into a spare buffer and swaps, so the parameters before the last step are
    // still at hand (for free) when the next forward pass finds a non-finite cost.
    std::vector<std::vector<T>> W_spare, b_spare;
    bool has_previous = false;
};

// What a call of Network::train did.
struct TrainResult {
    double first_cost = 0.0;   // cost of the first iteration, before its step
    std::int64_t done = 0;     // steps taken and kept
    bool diverged = false;     // the cost of iteration `done` (counted from the call's start) was not finite
    bool reverted = false;     // ... and the step that led there was undone
};

template <class T>
class Network {
   public:
    Network(std::vector<index> layer_dims, std::vector<Activation> activations) : dims_(std::move(layer_dims)) {
        if (dims_.size() < 2) throw std::invalid_argument("layer_dims: need at least two sizes (input and output)");
        for (index n : dims_)
            if (n <= 0) throw std::invalid_argument("layer_dims: every size must be positive");
        if (activations.size() != dims_.size() - 1)
            throw std::invalid_argument("activations: need one per layer");
        if (activations.back() != Activation::sigmoid)
            throw std::invalid_argument("activations: the output layer must be sigmoid (binary cross-entropy)");
        for (std::size_t l = 1; l < dims_.size(); ++l) {
            Layer<T> layer{dims_[l], dims_[l - 1], activations[l - 1], {}, {}, {}, {}};
            const std::size_t w = static_cast<std::size_t>(layer.n * layer.n_prev);
            layer.W.assign(w, T(0));
            layer.dW.assign(w, T(0));
            layer.b.assign(static_cast<std::size_t>(layer.n), T(0));
            layer.db.assign(static_cast<std::size_t>(layer.n), T(0));
            layers_.push_back(std::move(layer));
        }
    }

    const std::vector<index>& layer_dims() const { return dims_; }
    std::vector<Layer<T>>& layers() { return layers_; }
    const std::vector<Layer<T>>& layers() const { return layers_; }
    index L() const { return static_cast<index>(layers_.size()); }

    Workspace<T> make_workspace(index m) const {
        Workspace<T> ws;
        ws.m = m;
        index max_hidden = 0;
        for (const auto& layer : layers_) {
            ws.A.emplace_back(static_cast<std::size_t>(layer.n * m));
            ws.W_spare.emplace_back(layer.W.size());
            ws.b_spare.emplace_back(layer.b.size());
            if (&layer != &layers_.back()) max_hidden = std::max(max_hidden, layer.n);
        }
        ws.ZL.resize(static_cast<std::size_t>(layers_.back().n * m));
        ws.dA.resize(static_cast<std::size_t>(max_hidden * m));
        return ws;
    }

    // A[l] = g(W[l] A[l-1] + b[l]) for l = 1..L-1; Z[L] = W[L] A[L-1] + b[L]; A[L] = sigmoid(Z[L]).
    // With the Gram first layer, W[1] X comes from the Gram state instead of a product with X.
    void forward(Matrix<const T> X, Workspace<T>& ws) const {
        check_input(X, ws);
        Matrix<const T> A_prev = X;
        for (index l = 0; l < L(); ++l) {
            const Layer<T>& layer = layers_[l];
            const bool output = l + 1 == L();
            Matrix<T> A(ws.A[l].data(), layer.n, ws.m);
            Matrix<T> Z = output ? Matrix<T>(ws.ZL.data(), layer.n, ws.m) : A;  // hidden layers: Z in place
            if (l == 0 && ws.gram.active)
                ws.gram.pre_activation(Z.data);
            else
                blas::gemm<T>(T(1), layer.W_mat(), A_prev, T(0), Z);
            // bias and activation in one pass; the output keeps Z for the stable cost
            activation_forward<T>(output ? Activation::linear : layer.g, Z.data, layer.b.data(), Z.data, layer.n,
                                  ws.m);
            if (output) activation_forward<T>(layer.g, Z.data, nullptr, A.data, 1, A.size());
            A_prev = A;
        }
    }

    // Cost of the last forward pass.
    double cost(const Workspace<T>& ws, const T* Y) const {
        return cross_entropy_from_logits<T>(ws.ZL.data(), Y, static_cast<index>(ws.ZL.size()), ws.m);
    }

    // Gradients dW[l], db[l] of the last forward pass. Overwrites the activations in ws with dZ.
    void backward(Matrix<const T> X, const T* Y, Workspace<T>& ws) {
        check_input(X, ws);
        T* dZ = ws.A[L() - 1].data();
        cross_entropy_backward<T>(dZ, Y, dZ, static_cast<index>(ws.A[L() - 1].size()));
        for (index l = L() - 1; l >= 0; --l) {
            Layer<T>& layer = layers_[l];
            Matrix<const T> dZ_mat(ws.A[l].data(), layer.n, ws.m);
            Matrix<const T> A_prev = l == 0 ? X : Matrix<const T>(ws.A[l - 1].data(), layer.n_prev, ws.m);
            Matrix<T> dW(layer.dW.data(), layer.n, layer.n_prev);
            Matrix<T> dA_prev = l == 0 ? Matrix<T>() : Matrix<T>(ws.dA.data(), layer.n_prev, ws.m);
            if (l == 0 && ws.gram.active)  // dW[1] is never formed: step() folds dZ[1] into the Gram state
                row_sums<T>(dZ_mat, T(1) / static_cast<T>(ws.m), layer.db.data());
            else
                dense_backward<T>(dZ_mat, A_prev, layer.W_mat(), dW, layer.db.data(), dA_prev);
            if (l > 0) {
                // dZ[l-1] = dA[l-1] * g'(Z[l-1]), written over A[l-1] which backward no longer needs.
                T* A_prev_data = ws.A[l - 1].data();
                activation_backward_from_output<T>(layers_[l - 1].g, dA_prev.data, A_prev_data, A_prev_data,
                                                   layer.n_prev * ws.m);
            }
        }
    }

    // Gradient descent: W -= learning_rate dW, b -= learning_rate db, each written into the spare buffer
    // which then becomes current. With the Gram first layer, W[1]'s step is recorded as S += dZ[1]
    // (dZ[1] is still in A[1] after backward).
    void step(T learning_rate, Workspace<T>& ws) {
        for (index l = 0; l < L(); ++l) {
            Layer<T>& layer = layers_[l];
            if (l == 0 && ws.gram.active) {
                ws.gram.accumulate(ws.A[0].data());
            } else {
                subtract_scaled(layer.W, learning_rate, layer.dW, ws.W_spare[l]);
                layer.W.swap(ws.W_spare[l]);
            }
            subtract_scaled(layer.b, learning_rate, layer.db, ws.b_spare[l]);
            layer.b.swap(ws.b_spare[l]);
        }
        ws.has_previous = true;
    }

    // Back to the parameters before the last step (exactly: they were never overwritten).
    void undo_step(Workspace<T>& ws) {
        for (index l = 0; l < L(); ++l) {
            if (l == 0 && ws.gram.active)
                ws.gram.undo();
            else
                layers_[l].W.swap(ws.W_spare[l]);
            layers_[l].b.swap(ws.b_spare[l]);
        }
        ws.has_previous = false;
    }

    // Whether the last forward pass gave a finite cost: the cost is finite exactly when Z[L] is.
    bool finite_output(const Workspace<T>& ws) const {
        double sum = 0.0;
        const T* z = ws.ZL.data();
        const std::size_t count = ws.ZL.size();
#pragma omp simd reduction(+ : sum)
        for (std::size_t k = 0; k < count; ++k) sum += static_cast<double>(z[k]) * 0.0;  // NaN for inf and NaN
        return sum == 0.0;
    }

    // Start the Gram first layer for a fit on X at this learning rate (W[1] is then kept as W[1]_0 and S).
    void begin_gram(Matrix<const T> X, T learning_rate, Workspace<T>& ws) {
        check_input(X, ws);
        ws.gram.begin(X, layers_[0].W_mat(), learning_rate);
    }

    // Write the current W[1] = W[1]_0 - (lr/m) S X^T into the parameters (the Gram state stays valid).
    void materialize_gram(Matrix<const T> X, const Workspace<T>& ws) {
        if (ws.gram.active) ws.gram.materialize(X, layers_[0].W.data());
    }

    // `iterations` rounds of forward, backward, step on (X, Y). `stop` is asked after every finished round;
    // when it says true the loop ends there, so the parameters are always those of a completed iteration.
    // A forward pass with a non-finite cost ends the loop too, and the step that led to it is undone.
    TrainResult train(Matrix<const T> X, const T* Y, T learning_rate, std::int64_t iterations, Workspace<T>& ws,
                      const std::function<bool()>& stop) {
        TrainResult r;
        for (std::int64_t i = 0; i < iterations; ++i) {
            forward(X, ws);
            if (!finite_output(ws)) {
                r.diverged = true;
                if (ws.has_previous) {
                    undo_step(ws);
                    r.reverted = true;
                }
                break;
            }
            if (i == 0) r.first_cost = cost(ws, Y);
            backward(X, Y, ws);
            step(learning_rate, ws);
            r.done = i + 1;
            if (stop && stop()) break;
        }
        return r;
    }

   private:
    // out = P - alpha dP
    static void subtract_scaled(const std::vector<T>& P, T alpha, const std::vector<T>& dP, std::vector<T>& out) {
        const T* p = P.data();
        const T* dp = dP.data();
        T* o = out.data();
        const std::size_t n = P.size();
#pragma omp simd
        for (std::size_t k = 0; k < n; ++k) o[k] = p[k] - alpha * dp[k];
    }

    void check_input(Matrix<const T> X, const Workspace<T>& ws) const {
        if (X.rows != dims_[0] || X.cols != ws.m)
            throw std::invalid_argument("X: expected shape (" + std::to_string(dims_[0]) + ", " +
                                        std::to_string(ws.m) + ")");
    }

    std::vector<index> dims_;
    std::vector<Layer<T>> layers_;
};

}  // namespace nn
