#pragma once
// Activations g and their derivatives g', forward and backward side by side.
//   sigmoid     g = 1 / (1 + e^-z)        g' = g (1 - g)
//   tanh        g = tanh z                g' = 1 - g^2
//   relu        g = max(0, z)             g' = 1 if z > 0 else 0   (0 at the kink, as the course)
//   leaky_relu  g = z if z > 0 else 0.01z g' = 1 if z > 0 else 0.01
//   linear      g = z                     g' = 1
// Each derivative is also written in terms of A = g(Z), which is what the network keeps
// (it overwrites Z with A to save a buffer and a pass); relu and leaky_relu have A > 0 exactly when Z > 0.
#include <stdexcept>
#include <string>
#include <string_view>

#include "nn/matrix.hpp"

namespace nn {

enum class Activation { sigmoid, tanh, relu, leaky_relu, linear };

inline constexpr double leaky_relu_slope = 0.01;
inline constexpr const char* activation_names = "'sigmoid', 'tanh', 'relu', 'leaky_relu', 'linear'";

inline Activation activation_from_name(std::string_view name) {
    if (name == "sigmoid") return Activation::sigmoid;
    if (name == "tanh") return Activation::tanh;
    if (name == "relu") return Activation::relu;
    if (name == "leaky_relu") return Activation::leaky_relu;
    if (name == "linear") return Activation::linear;
    throw std::invalid_argument("unknown activation '" + std::string(name) + "'; expected one of " +
                                activation_names);
}

inline const char* activation_name(Activation g) {
    switch (g) {
        case Activation::sigmoid: return "sigmoid";
        case Activation::tanh: return "tanh";
        case Activation::relu: return "relu";
        case Activation::leaky_relu: return "leaky_relu";
        case Activation::linear: return "linear";
    }
    return "?";
}

inline constexpr Activation all_activations[] = {Activation::sigmoid, Activation::tanh, Activation::relu,
                                                 Activation::leaky_relu, Activation::linear};

// A = g(Z + b), b added to each row of a row-major (n x m) block (b may be null: no bias).
// Bias and activation in one pass straight after the gemm. A may alias Z.
template <class T>
void activation_forward(Activation g, const T* Z, const T* b, T* A, index n, index m);

// dZ = dA * g'(Z) over `count` contiguous elements. dZ may alias dA.
template <class T>
void activation_backward(Activation g, const T* dA, const T* Z, T* dZ, index count);

// dZ = dA * g'(Z) with g' computed from A = g(Z). dZ may alias dA or A.
template <class T>
void activation_backward_from_output(Activation g, const T* dA, const T* A, T* dZ, index count);

// The same, returning the sum of the dZ it writes (db's row sum, formed in the pass that writes dZ).
template <class T>
T activation_backward_from_output_sum(Activation g, const T* dA, const T* A, T* dZ, index count);

}  // namespace nn
