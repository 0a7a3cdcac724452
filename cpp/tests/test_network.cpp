// network.hpp: Network<T> against a naive L-layer network written here in long double straight from the
// course formulas (forward, cost, backward, update, a few training iterations); gradients against finite
// differences of the cost; workspace sizes; invalid arguments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "naive.hpp"
#include "nn/network.hpp"

namespace nn::test {
namespace {

template <class T>
class NetworkT : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(NetworkT, Types);

using Vec = std::vector<ld>;  // a row-major (rows x cols) long-double matrix

// The naive network: Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]); dZ[L] = A[L] - Y;
// dW[l] = dZ[l] A[l-1]^T / m, db[l] = sum_j dZ[l] / m, dA[l-1] = W[l]^T dZ[l], dZ[l-1] = dA[l-1] * g'(Z[l-1]).
struct NaiveNet {
    std::vector<index> dims;
    std::vector<Activation> g;
    std::vector<Vec> W, b, dW, db, Z, A;  // per layer l = 1..L at [l-1]; A[0] is X here, A[l] at [l]
    Vec db_scale;  // per layer: the largest row mean of |dZ|, the scale of db's rounding when the row cancels
    Vec z_scale;   // per layer: the largest |b| + sum |W| |A_prev|, the scale of Z's rounding when its sum
                   // cancels (and of A = g(Z)'s: |g'| <= 1 for every activation)
    index m = 0;

    index L() const { return static_cast<index>(g.size()); }

    void forward(const Vec& X, index m_) {
        m = m_;
        A.assign(L() + 1, {});
        Z.assign(L(), {});
        A[0] = X;
        z_scale.assign(L(), 0);
        for (index l = 1; l <= L(); ++l) {
            const index n = dims[l], np = dims[l - 1];
            Z[l - 1].assign(n * m, 0);
            A[l].assign(n * m, 0);
            for (index i = 0; i < n; ++i)
                for (index j = 0; j < m; ++j) {
                    ld z = b[l - 1][i], mag = std::fabs(b[l - 1][i]);
                    for (index k = 0; k < np; ++k) {
                        z += W[l - 1][i * np + k] * A[l - 1][k * m + j];
                        mag += std::fabs(W[l - 1][i * np + k] * A[l - 1][k * m + j]);
                    }
                    z_scale[l - 1] = std::max(z_scale[l - 1], mag);
                    Z[l - 1][i * m + j] = z;
                    A[l][i * m + j] = g_ref(g[l - 1], z);
                }
        }
    }
    ld cost(const Vec& Y) const {
        ld J = 0;
        const Vec& ZL = Z[L() - 1];
        for (std::size_t k = 0; k < ZL.size(); ++k) {
            const ld z = ZL[k], y = Y[k];
            J += (z > 0 ? z : 0.0L) - y * z + std::log1p(std::exp(-std::fabs(z)));
        }
        return J / m;
    }
    void backward(const Vec& Y) {
        dW.assign(L(), {});
        db.assign(L(), {});
        db_scale.assign(L(), 0);
        Vec dZ(A[L()].size());
        for (std::size_t k = 0; k < dZ.size(); ++k) dZ[k] = A[L()][k] - Y[k];
        for (index l = L(); l >= 1; --l) {
            const index n = dims[l], np = dims[l - 1];
            dW[l - 1].assign(n * np, 0);
            db[l - 1].assign(n, 0);
            for (index i = 0; i < n; ++i) {
                ld row_abs = 0;
                for (index j = 0; j < m; ++j) {
                    db[l - 1][i] += dZ[i * m + j] / m;
                    row_abs += std::fabs(dZ[i * m + j]) / m;
                    for (index k = 0; k < np; ++k) dW[l - 1][i * np + k] += dZ[i * m + j] * A[l - 1][k * m + j] / m;
                }
                db_scale[l - 1] = std::max(db_scale[l - 1], row_abs);
            }
            if (l == 1) break;
            Vec dZ_prev(np * m, 0);
            for (index k = 0; k < np; ++k)
                for (index j = 0; j < m; ++j) {
                    ld dA = 0;
                    for (index i = 0; i < n; ++i) dA += W[l - 1][i * np + k] * dZ[i * m + j];
                    dZ_prev[k * m + j] = dA * dg_ref(g[l - 2], Z[l - 2][k * m + j]);
                }
            dZ = std::move(dZ_prev);
        }
    }
    void step(ld lr) {
        for (index l = 0; l < L(); ++l) {
            for (std::size_t k = 0; k < W[l].size(); ++k) W[l][k] -= lr * dW[l][k];
            for (std::size_t k = 0; k < b[l].size(); ++k) b[l][k] -= lr * db[l][k];
        }
    }
};

// A copy with the standard allocator (the engine's buffers are aligned: nn/buffer.hpp), for close().
template <class T, class Alloc>
std::vector<T> plain(const std::vector<T, Alloc>& v) { return std::vector<T>(v.begin(), v.end()); }

// Normwise comparison of a whole array: max |got - ref| <= rtol * max(max |ref|, scale).
template <class T, class Alloc>
::testing::AssertionResult close_normwise(const std::vector<T, Alloc>& got, const Vec& ref, double rtol,
                                          ld scale = 0) {
    ld mx = scale;
    for (ld r : ref) mx = std::max(mx, std::fabs(r));
    return close(plain(got), ref, 0.0, Vec(ref.size(), rtol * mx));
}

template <class T, class Alloc>
Vec to_ld(const std::vector<T, Alloc>& v) { return Vec(v.begin(), v.end()); }

struct Case {
    std::vector<index> dims;
    index m;
};
const Case cases[] = {{{5, 4, 3, 1}, 7}, {{6, 9, 3, 1}, 41}, {{3, 1}, 1}, {{1, 1}, 1}, {{4, 6, 2}, 5}, {{6, 1, 3, 1}, 3}, {{2, 4, 1}, 400},
                      {{3, 5, 4, 4, 1}, 40}};

template <class T>
std::vector<Activation> acts_for(const Case& c, Activation hidden) {
    std::vector<Activation> a(c.dims.size() - 1, hidden);
    if (!a.empty()) a.back() = Activation::sigmoid;
    return a;
}

// A network and its naive twin with the same parameters (random W ~ 1/sqrt(n_prev), nonzero b).
template <class T>
void make_pair(const Case& c, Activation hidden, std::uint32_t seed, Network<T>& net, NaiveNet& ref) {
    ref.dims = c.dims;
    ref.g = acts_for<T>(c, hidden);
    for (index l = 1; l < static_cast<index>(c.dims.size()); ++l) {
        auto& layer = net.layers()[l - 1];
        const auto W = uniform<T>(layer.W.size(), -1.5 / std::sqrt(double(c.dims[l - 1])),
                                  1.5 / std::sqrt(double(c.dims[l - 1])), seed + l);
        const auto b = uniform<T>(layer.b.size(), -0.5, 0.5, seed + 50 + l);
        layer.W.assign(W.begin(), W.end());
        layer.b.assign(b.begin(), b.end());
        ref.W.push_back(to_ld(layer.W));
        ref.b.push_back(to_ld(layer.b));
    }
}

// A network with make_pair's parameters, for tests that train the same start two ways.
template <class T>
Network<T> seeded_network(const Case& c, Activation hidden, std::uint32_t seed) {
    Network<T> net(c.dims, acts_for<T>(c, hidden));
    NaiveNet unused;
    make_pair<T>(c, hidden, seed, net, unused);
    return net;
}

TYPED_TEST(NetworkT, ForwardBackwardAndTrainingMatchNaive) {
    using T = TypeParam;
    // float: the errors of a few layers and iterations add up; 2e-5 normwise is still far below any bug
    const double tol = sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
    std::uint32_t seed = 1000;
    for (const Case& c : cases)
        for (Activation hidden : all_activations)
            for (bool x_f : {false, true})
                for (index block : {index(0), index(1), index(3)})  // columns of dA per block (0: the default)
                for (int slices : {1, 2, 3})  // threads the columns are split across (parallel.hpp) ...
                for (bool parts : {false, true}) {  // ... forming dW from per-thread parts, or sharing each product
                if (parts && slices == 1) continue;
                SCOPED_TRACE("dims [" + [&] { std::string s; for (index n : c.dims) s += std::to_string(n) + ","; return s; }() +
                             "] m " + std::to_string(c.m) + " hidden " + activation_name(hidden) + (x_f ? " X F-order" : " X C-order") +
                             " block " + std::to_string(block) + " slices " + std::to_string(slices) +
                             (parts ? " gradient parts" : ""));
                seed += 100;
                Network<T> net(c.dims, acts_for<T>(c, hidden));
                NaiveNet ref;
                make_pair<T>(c, hidden, seed, net, ref);
                const index n0 = c.dims[0], m = c.m, L = net.L();
                Owned<T> X(n0, m, x_f, 0, seed + 7, -2, 2);
                auto Y = labels<T>(c.dims.back() * m, seed + 8);
                const Vec X_ld = to_ld(rows_of<T>(X.view)), Y_ld = to_ld(Y);
                auto ws = net.make_workspace(m, slices);
                if (block) ws.block = std::min(ws.block, block);  // smaller blocks fit the buffer as allocated
                ws.partial_gradients = parts;  // (make_workspace sets it for every team)

                // one forward: every hidden A[l], Z[L] (kept in the last buffer), the cost
                net.forward(X.view, ws);
                ref.forward(X_ld, m);
                for (index l = 0; l + 1 < L; ++l)
                    EXPECT_TRUE(close_normwise(ws.A[l], ref.A[l + 1], tol, ref.z_scale[l])) << "A[" << l + 1 << "]";
                EXPECT_TRUE(close_normwise(ws.A[L - 1], ref.Z[L - 1], tol, ref.z_scale[L - 1])) << "Z[L]";
                EXPECT_TRUE(close<double>({net.cost(ws, Y.data())}, {ref.cost(Y_ld)}, tol)) << "cost";
                {  // the output probabilities A[L] (in place over Z[L], so on a second workspace)
                    auto ws2 = net.make_workspace(m);
                    net.forward(X.view, ws2);
                    const T* AL = net.output(ws2);
                    EXPECT_TRUE(close_normwise(std::vector<T>(AL, AL + c.dims.back() * m), ref.A[L], tol)) << "A[L]";
                }

                // one backward: every dW[l], db[l]
                net.backward(X.view, Y.data(), ws);
                ref.backward(Y_ld);
                for (index l = 0; l < L; ++l) {
                    EXPECT_TRUE(close_normwise(net.layers()[l].dW, ref.dW[l], tol)) << "dW[" << l + 1 << "]";
                    EXPECT_TRUE(close_normwise(net.layers()[l].db, ref.db[l], tol, ref.db_scale[l])) << "db[" << l + 1 << "]";
                }

                // the step, then a few more iterations through train()
                const T lr = T(0.5);
                net.step(lr, ws);
                ref.step(lr);
                const TrainResult r = net.train(X.view, Y.data(), lr, 4, ws, nullptr);
                EXPECT_EQ(r.done, 4);
                EXPECT_FALSE(r.diverged);
                EXPECT_FALSE(r.reverted);
                for (int it = 0; it < 4; ++it) {
                    ref.forward(X_ld, m);
                    ref.backward(Y_ld);
                    ref.step(lr);
                }
                ref.forward(X_ld, m);
                EXPECT_TRUE(close<double>({r.cost}, {ref.cost(Y_ld)}, tol)) << "cost of the parameters train() reached";
                for (index l = 0; l < L; ++l) {
                    EXPECT_TRUE(close_normwise(net.layers()[l].W, ref.W[l], tol)) << "W[" << l + 1 << "] after 5 steps";
                    // b's rounding is that of its steps, lr db, each judged on db's scale (see db_scale)
                    EXPECT_TRUE(close_normwise(net.layers()[l].b, ref.b[l], tol, ld(lr) * ref.db_scale[l]))
                        << "b[" << l + 1 << "] after 5 steps";
                }

                // evaluate(): probabilities and cost of the trained network, in column blocks of any width
                ref.forward(X_ld, m);
                for (index eval_block : {m, index(1), index(3), index(4096)}) {
                    std::vector<T> out(c.dims.back() * m, std::numeric_limits<T>::quiet_NaN());
                    const double J = net.evaluate(X.view, Y.data(), out.data(), eval_block);
                    EXPECT_TRUE(close<double>({J}, {ref.cost(Y_ld)}, tol)) << "evaluate cost, block " << eval_block;
                    EXPECT_TRUE(close_normwise(out, ref.A[L], tol)) << "evaluate A[L], block " << eval_block;
                    std::vector<T> out2(c.dims.back() * m);
                    net.evaluate(X.view, nullptr, out2.data(), eval_block);  // no labels: probabilities only
                    EXPECT_EQ(out2, out);
                    EXPECT_EQ(net.evaluate(X.view, Y.data(), nullptr, eval_block), J);  // cost only
                }
                if (::testing::Test::HasFailure()) return;
            }
}

// Central differences of J with respect to every parameter, in double, against backward's dW and db.
TEST(NetworkGradients, MatchFiniteDifferencesOfTheCost) {
    for (Activation hidden : {Activation::tanh, Activation::sigmoid, Activation::relu, Activation::leaky_relu})
        for (const Case& c : {Case{{4, 5, 3, 1}, 6}, Case{{3, 4, 2}, 5}, Case{{2, 1}, 1}}) {
            SCOPED_TRACE(std::string("hidden ") + activation_name(hidden) + " L " + std::to_string(c.dims.size() - 1));
            Network<double> net = seeded_network<double>(c, hidden, 77);
            Owned<double> X(c.dims[0], c.m, false, 0, 78, -2, 2);
            auto Y = labels<double>(c.dims.back() * c.m, 79);
            auto ws = net.make_workspace(c.m);
            auto J = [&] { net.forward(X.view, ws); return net.cost(ws, Y.data()); };
            J();
            net.backward(X.view, Y.data(), ws);
            const double h = 1e-6;
            for (auto& layer : net.layers())
                for (auto [p, dp] : {std::pair{&layer.W, &layer.dW}, std::pair{&layer.b, &layer.db}}) {
                    Vec fd(p->size());
                    for (std::size_t k = 0; k < p->size(); ++k) {
                        const double keep = (*p)[k];
                        (*p)[k] = keep + h;
                        const double up = J();
                        (*p)[k] = keep - h;
                        const double down = J();
                        (*p)[k] = keep;
                        fd[k] = (up - down) / (2 * h);
                    }
                    EXPECT_TRUE(close(plain(*dp), fd, 1e-6, Vec(fd.size(), 1e-8)));
                }
        }
}

TYPED_TEST(NetworkT, WorkspaceSizes) {
    using T = TypeParam;
    const Case shapes[] = {{{12288, 20, 7, 5, 1}, 3}, {{12288, 20, 7, 5, 1}, 5000}, {{2, 4, 1}, 400}, {{3, 1}, 9},
                           {{5, 2, 30, 3}, 4}, {{10, 8192, 1}, 3000}, {{10, 3, 1}, 1}};
    for (const Case& c : shapes) {
        SCOPED_TRACE("L " + std::to_string(c.dims.size() - 1) + " m " + std::to_string(c.m));
        Network<T> net(c.dims, acts_for<T>(c, Activation::relu));
        auto ws = net.make_workspace(c.m);
        const index L = static_cast<index>(c.dims.size()) - 1;
        EXPECT_EQ(ws.m, c.m);
        ASSERT_EQ(static_cast<index>(ws.A.size()), L);
        for (index l = 1; l <= L; ++l)  // one (n[l] x m) buffer per layer, the last one for Z[L]
            EXPECT_EQ(static_cast<index>(ws.A[l - 1].size()), c.dims[l] * c.m) << "A[" << l << "]";
        // dA[l-1] = W[l]^T dZ[l] for l >= 2, a block of columns at a time: (max n[l-1] x block)
        index max_n_prev = 0;
        for (index l = 2; l <= L; ++l) max_n_prev = std::max(max_n_prev, c.dims[l - 1]);
        EXPECT_GE(ws.block, 1);
        EXPECT_LE(ws.block, c.m);
        if (L == 1) {
            EXPECT_EQ(ws.dA.size(), 0u);  // logistic regression needs no dA
        } else {
            EXPECT_GE(static_cast<index>(ws.dA.size()), max_n_prev * ws.block);
            // bounded: dA_block_bytes, or 16 columns when a column alone is that large, or the whole dA when that
            // is at most 1/dA_whole_fraction of the activations; all of it when m is smaller
            index activations = 0;
            for (index l = 1; l <= L; ++l) activations += c.dims[l] * c.m;
            const index whole = max_n_prev * c.m;
            const index bound = whole * dA_whole_fraction <= activations
                                    ? whole * static_cast<index>(sizeof(T))
                                    : std::max<index>(dA_block_bytes, 16 * max_n_prev * static_cast<index>(sizeof(T)));
            EXPECT_LE(static_cast<index>(ws.dA.size() * sizeof(T)), bound);
            if (whole * static_cast<index>(sizeof(T)) <= dA_block_bytes || whole * dA_whole_fraction <= activations) {
                EXPECT_EQ(ws.block, c.m);
            }
        }
        ASSERT_EQ(net.L(), L);
        for (index l = 1; l <= L; ++l) {
            const auto& layer = net.layers()[l - 1];
            EXPECT_EQ(layer.n, c.dims[l]);
            EXPECT_EQ(layer.n_prev, c.dims[l - 1]);
            EXPECT_EQ(static_cast<index>(layer.W.size()), c.dims[l] * c.dims[l - 1]);
            EXPECT_EQ(static_cast<index>(layer.dW.size()), c.dims[l] * c.dims[l - 1]);
            EXPECT_EQ(static_cast<index>(layer.b.size()), c.dims[l]);
            EXPECT_EQ(static_cast<index>(layer.db.size()), c.dims[l]);
        }
        EXPECT_EQ(net.layer_dims(), c.dims);
    }
}

// A team forms each layer's dW from per-thread parts kept in memory that backward no longer needs (the buffer
// of the layer above, else the layer below's dW and db), and shares the product where neither has room.
TYPED_TEST(NetworkT, GradientPartsGoWhereMemoryIsDead) {
    using T = TypeParam;
    using Net = Network<T>;
    using P = typename Net::PartsIn;
    std::vector<index> deep(10, 256);
    deep.back() = 1;
    std::vector<Activation> acts(9, Activation::tanh);
    acts.back() = Activation::sigmoid;
    Net d(deep, acts);
    for (int slices : {1, 2, 3}) {
        SCOPED_TRACE("deep, slices " + std::to_string(slices));
        const auto ws = d.make_workspace(2048, slices);
        EXPECT_EQ(ws.partial_gradients, slices > 1);
        for (index l = 0; l < 7; ++l) EXPECT_EQ(d.gradient_parts_place(l, ws), slices > 1 ? P::above : P::nowhere);
        // two threads' parts of a 256 x 256 dW do not fit in the layer below's 256 x 256
        EXPECT_EQ(d.gradient_parts_place(7, ws), slices == 2 ? P::below : P::nowhere);
        EXPECT_EQ(d.gradient_parts_place(8, ws), slices > 1 ? P::below : P::nowhere);
    }
    Net w({784, 512, 256, 1}, {Activation::relu, Activation::relu, Activation::sigmoid});
    const auto ws = w.make_workspace(8192, 2);
    EXPECT_EQ(w.gradient_parts_place(0, ws), P::above);
    EXPECT_EQ(w.gradient_parts_place(1, ws), P::below);
    EXPECT_EQ(w.gradient_parts_place(2, ws), P::below);
    // room for one thread's part of [3, 5, 4, 1]'s first layer (5 x 3 + 5) in the buffer above (4 x 5), not two;
    // the first layer has nothing below
    Net n({3, 5, 4, 1}, {Activation::relu, Activation::relu, Activation::sigmoid});
    EXPECT_EQ(n.gradient_parts_place(0, n.make_workspace(5, 2)), P::above);
    EXPECT_EQ(n.gradient_parts_place(0, n.make_workspace(5, 3)), P::nowhere);
}

// Every buffer starts on a 64-byte boundary, and one of 4 MiB or more on a 2 MiB one (where a huge page can
// back it); a buffer just below the size keeps the small alignment, and each is freed with its own.
TYPED_TEST(NetworkT, BuffersAreAlignedForTheirSize) {
    using T = TypeParam;
    const std::size_t big = huge_buffer_min_bytes / sizeof(T);
    for (std::size_t n : {std::size_t(1), std::size_t(1000), big - 1, big, 3 * big + 5}) {
        Buffer<T> b(n, T(2));
        const auto at = reinterpret_cast<std::uintptr_t>(b.data());
        EXPECT_EQ(at % (n >= big ? huge_page_bytes : buffer_alignment), 0u) << n;
        EXPECT_EQ(b.front() + b.back(), T(4)) << n;
        b.resize(n / 2 + 1);
        b.shrink_to_fit();  // reallocates, freeing with the alignment it was allocated with
        EXPECT_EQ(b.front(), T(2));
    }
}

TYPED_TEST(NetworkT, InvalidArgumentsThrow) {
    using T = TypeParam;
    using A = Activation;
    EXPECT_THROW(Network<T>({}, {}), std::invalid_argument);
    EXPECT_THROW(Network<T>({3}, {}), std::invalid_argument);
    EXPECT_THROW(Network<T>({3, 0, 1}, {A::relu, A::sigmoid}), std::invalid_argument);
    EXPECT_THROW(Network<T>({3, -2, 1}, {A::relu, A::sigmoid}), std::invalid_argument);
    EXPECT_THROW(Network<T>({0, 1}, {A::sigmoid}), std::invalid_argument);
    EXPECT_THROW(Network<T>({3, 4, 1}, {A::sigmoid}), std::invalid_argument);                       // too few
    EXPECT_THROW(Network<T>({3, 4, 1}, {A::relu, A::relu, A::sigmoid}), std::invalid_argument);     // too many
    EXPECT_THROW(Network<T>({3, 4, 1}, {A::relu, A::relu}), std::invalid_argument);                 // not sigmoid
    EXPECT_THROW(Network<T>({3, 1}, {A::linear}), std::invalid_argument);
    EXPECT_NO_THROW(Network<T>({3, 4, 1}, {A::relu, A::sigmoid}));

    // X must be (n[0], m) for the workspace's m
    Network<T> net({3, 2, 1}, {A::tanh, A::sigmoid});
    auto ws = net.make_workspace(5);
    std::vector<T> X(4 * 6, T(0)), Y(6, T(0));
    EXPECT_THROW(net.forward(Matrix<const T>(X.data(), 4, 5), ws), std::invalid_argument);
    EXPECT_THROW(net.forward(Matrix<const T>(X.data(), 3, 6), ws), std::invalid_argument);
    EXPECT_THROW(net.backward(Matrix<const T>(X.data(), 3, 4), Y.data(), ws), std::invalid_argument);
    EXPECT_NO_THROW(net.forward(Matrix<const T>(X.data(), 3, 5), ws));
}

TYPED_TEST(NetworkT, TrainStopsWhenAskedAfterACompletedIteration) {
    using T = TypeParam;
    const Case c{{4, 3, 1}, 10};
    Network<T> a = seeded_network<T>(c, Activation::relu, 5), b = seeded_network<T>(c, Activation::relu, 5);
    Owned<T> X(4, 10, false, 0, 6, -1, 1);
    auto Y = labels<T>(10, 7);
    auto wa = a.make_workspace(10), wb = b.make_workspace(10);
    int calls = 0;
    const TrainResult r = a.train(X.view, Y.data(), T(0.1), 100, wa, [&] { return ++calls == 3; });
    EXPECT_EQ(r.done, 3);
    EXPECT_FALSE(r.diverged);
    EXPECT_EQ(calls, 3);
    b.forward(X.view, wb);
    const double first = b.cost(wb, Y.data());  // the cost before the first step
    for (int it = 0; it < 3; ++it) {
        b.backward(X.view, Y.data(), wb);
        b.step(T(0.1), wb);
        b.forward(X.view, wb);
    }
    EXPECT_EQ(r.cost, b.cost(wb, Y.data()));  // the cost of the parameters reached
    for (index l = 0; l < a.L(); ++l) {
        EXPECT_TRUE(close(plain(a.layers()[l].W), to_ld(b.layers()[l].W), rtol<T>()));
        EXPECT_TRUE(close(plain(a.layers()[l].b), to_ld(b.layers()[l].b), rtol<T>()));
    }
    // and the cost goes down on this easy problem
    EXPECT_LT(r.cost, first);
}

// With a team, train() takes each layer's step inside backward, in the sum of the threads' gradient parts
// (Network::backward_and_step). That must be exactly backward() then step(): the same parameters, bit for bit,
// the layers without room for parts (whose step stays after backward) included, and the same parameters
// before the last step kept for undo_step.
TYPED_TEST(NetworkT, TrainInATeamStepsExactlyAsBackwardThenStep) {
    using T = TypeParam;
    using P = typename Network<T>::PartsIn;
    // [3, 2, 2, 50, 1] on 64 examples: layer 3's parts fit neither above (A[4] is 1 x 64) nor below (dW[2] is
    // 2 x 2), so that layer shares its products; the others sum parts
    for (const Case& c : {Case{{3, 2, 2, 50, 1}, 64}, Case{{20, 16, 16, 16, 1}, 300}})
        for (int slices : {2, 3}) {
            SCOPED_TRACE("m " + std::to_string(c.m) + " slices " + std::to_string(slices));
            Network<T> a = seeded_network<T>(c, Activation::tanh, 700), b = seeded_network<T>(c, Activation::tanh, 700);
            Owned<T> X(c.dims[0], c.m, false, 0, 701, -1, 1);
            auto Y = labels<T>(c.m, 702);
            auto wa = a.make_workspace(c.m, slices), wb = b.make_workspace(c.m, slices);
            int parts = 0, shared = 0;
            for (index l = 0; l < a.L(); ++l) ++(a.gradient_parts_place(l, wa) == P::nowhere ? shared : parts);
            EXPECT_GT(parts, 0);
            if (c.m == 64 && slices == 2) {
                EXPECT_EQ(shared, 1);
            }
            const TrainResult r = a.train(X.view, Y.data(), T(0.1), 3, wa, nullptr);
            ASSERT_EQ(wa.backward_threads, slices);  // the team really ran, so the steps were taken in it
            b.forward(X.view, wb);
            for (int it = 0; it < 3; ++it) {
                b.backward(X.view, Y.data(), wb);
                b.step(T(0.1), wb);
                b.forward(X.view, wb);
            }
            EXPECT_EQ(r.cost, b.cost(wb, Y.data()));
            for (index l = 0; l < a.L(); ++l) {
                const auto &la = a.layers()[l], &lb = b.layers()[l];
                EXPECT_EQ(la.W, lb.W) << "W[" << l + 1 << "]";
                EXPECT_EQ(la.b, lb.b) << "b[" << l + 1 << "]";
                EXPECT_EQ(la.dW, lb.dW) << "W[" << l + 1 << "] before the last step";
                EXPECT_EQ(la.db, lb.db) << "b[" << l + 1 << "] before the last step";
            }
        }
}

// A network of narrow layers trains on a team of its own (Network::train_narrow_team): each thread's columns
// through backward and forward, the gradient parts summed and the step taken by every thread into its own
// copy of the parameters. Against the naive network: the same training up to rounding, for every activation,
// teams of 2 and 3, uneven slices and examples too few for a whole vector per thread; every thread's copy of
// the parameters is the network's, bit for bit; and calls of train() go on where the last one stopped.
TYPED_TEST(NetworkT, NarrowTeamTrainsAsTheNaiveNetwork) {
    using T = TypeParam;
    if (!narrow_layers_supported()) GTEST_SKIP() << "the narrow layers need AVX2 or AVX-512";
    const double tol = sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
    std::uint32_t seed = 900;
    for (const Case& c : {Case{{2, 4, 1}, 400}, Case{{3, 5, 3, 1}, 301}, Case{{8, 2, 2, 1}, 131},
                          Case{{4, 4, 4, 1}, 20}, Case{{1, 1}, 37}})
        for (Activation hidden : all_activations)
            for (int team : {2, 3}) {
                SCOPED_TRACE("m " + std::to_string(c.m) + " L " + std::to_string(c.dims.size() - 1) + " hidden " +
                             activation_name(hidden) + " team " + std::to_string(team));
                seed += 10;
                Network<T> net(c.dims, acts_for<T>(c, hidden));
                NaiveNet ref;
                make_pair<T>(c, hidden, seed, net, ref);
                Owned<T> X(c.dims[0], c.m, false, 0, seed + 7, -2, 2);
                auto Y = labels<T>(c.m, seed + 8);
                const Vec X_ld = to_ld(rows_of<T>(X.view)), Y_ld = to_ld(Y);
                auto ws = net.make_workspace(c.m);
                ws.team.begin(net.layers(), team);
                const T lr = T(0.5);
                TrainResult r;
                for (int calls = 0; calls < 2; ++calls) {  // 3 iterations, then 2 more from where they ended
                    r = net.train(X.view, Y.data(), lr, 3 - calls, ws, nullptr);
                    EXPECT_EQ(r.done, 3 - calls);
                    EXPECT_FALSE(r.diverged);
                }
                ASSERT_EQ(ws.backward_threads, team);  // the team really ran
                for (int it = 0; it < 5; ++it) {
                    ref.forward(X_ld, c.m);
                    ref.backward(Y_ld);
                    ref.step(lr);
                }
                ref.forward(X_ld, c.m);
                EXPECT_TRUE(close<double>({r.cost}, {ref.cost(Y_ld)}, tol)) << "cost of the parameters reached";
                for (index l = 0; l < net.L(); ++l) {
                    const auto& layer = net.layers()[l];
                    EXPECT_TRUE(close_normwise(layer.W, ref.W[l], tol)) << "W[" << l + 1 << "] after 5 steps";
                    EXPECT_TRUE(close_normwise(layer.b, ref.b[l], tol, ld(lr) * ref.db_scale[l]))
                        << "b[" << l + 1 << "] after 5 steps";
                    index offset = 0;
                    for (index k = 0; k < l; ++k) offset += c.dims[k + 1] * c.dims[k] + c.dims[k + 1];
                    for (int s = 1; s < team; ++s) {
                        const T* copy = ws.team.copy_of(s) + offset;
                        EXPECT_TRUE(std::equal(layer.W.begin(), layer.W.end(), copy)) << "thread " << s << "'s W";
                        EXPECT_TRUE(std::equal(layer.b.begin(), layer.b.end(), copy + layer.W.size()))
                            << "thread " << s << "'s b";
                    }
                }
                if (::testing::Test::HasFailure()) return;
            }
}

// The narrow team learns of `stop` and of a non-finite cost one backward pass late (train_narrow_team). It must
// still end where one thread ends: after the iteration `stop` said true at, with the cost of the parameters
// reached; and after a step that overflows, with that step undone exactly.
TYPED_TEST(NetworkT, NarrowTeamStopsAndRevertsWhereOneThreadDoes) {
    using T = TypeParam;
    if (!narrow_layers_supported()) GTEST_SKIP() << "the narrow layers need AVX2 or AVX-512";
    const Case c{{3, 5, 1}, 160};
    Owned<T> X(3, c.m, false, 0, 801, 0.5, 2);
    auto Y = labels<T>(c.m, 802);
    {  // stopped after 3 iterations: the parameters of 3 iterations, and their cost
        Network<T> a = seeded_network<T>(c, Activation::relu, 800), b = seeded_network<T>(c, Activation::relu, 800);
        auto wa = a.make_workspace(c.m), wb = b.make_workspace(c.m);
        wa.team.begin(a.layers(), 2);
        wb.team.begin(b.layers(), 2);
        int calls = 0;
        const TrainResult r = a.train(X.view, Y.data(), T(0.1), 100, wa, [&] { return ++calls == 3; });
        EXPECT_EQ(r.done, 3);
        EXPECT_FALSE(r.diverged);
        EXPECT_EQ(calls, 3);
        const TrainResult rb = b.train(X.view, Y.data(), T(0.1), 3, wb, nullptr);
        EXPECT_EQ(r.cost, rb.cost);
        for (index l = 0; l < a.L(); ++l) {
            EXPECT_EQ(a.layers()[l].W, b.layers()[l].W) << "W[" << l + 1 << "]";
            EXPECT_EQ(a.layers()[l].b, b.layers()[l].b) << "b[" << l + 1 << "]";
        }
        // and training goes on from there as if never stopped
        a.train(X.view, Y.data(), T(0.1), 2, wa, nullptr);
        b.train(X.view, Y.data(), T(0.1), 2, wb, nullptr);
        EXPECT_EQ(a.layers()[0].W, b.layers()[0].W);
    }
    // overflow: at the first step (a huge rate), and at the second (linear hidden units: each step multiplies
    // the weights' size by about the rate); one thread and the team end at the same step, the team with the
    // parameters before it
    const T huge = std::numeric_limits<T>::max() / 16;
    const T large = static_cast<T>(sizeof(T) == sizeof(double) ? 1e100 : 1e12);
    for (const T lr : {huge, large}) {
        SCOPED_TRACE("learning rate " + std::to_string(double(lr)));
        Network<T> one = seeded_network<T>(c, Activation::linear, 810);
        Network<T> net = seeded_network<T>(c, Activation::linear, 810);
        auto w1 = one.make_workspace(c.m), ws = net.make_workspace(c.m);
        ws.team.begin(net.layers(), 2);
        const TrainResult r1 = one.train(X.view, Y.data(), lr, 1000, w1, nullptr);
        const TrainResult r = net.train(X.view, Y.data(), lr, 1000, ws, nullptr);
        ASSERT_TRUE(r1.diverged);
        EXPECT_TRUE(r.diverged);
        EXPECT_TRUE(r.reverted);
        EXPECT_EQ(r.done, r1.done);
        EXPECT_EQ(r.done, lr == huge ? 1 : 2);  // (the test's premise: the second rate overflows later)
        // the parameters of done - 1 steps on the team, exactly
        Network<T> before = seeded_network<T>(c, Activation::linear, 810);
        auto wb = before.make_workspace(c.m);
        wb.team.begin(before.layers(), 2);
        before.train(X.view, Y.data(), lr, r.done - 1, wb, nullptr);
        for (index l = 0; l < net.L(); ++l) {
            EXPECT_EQ(net.layers()[l].W, before.layers()[l].W) << "layer " << l + 1;
            EXPECT_EQ(net.layers()[l].b, before.layers()[l].b) << "layer " << l + 1;
        }
    }
}

// Which fits get a narrow team: narrow layers only, a row-major X in the primal, and enough examples and work
// for each thread (narrow_team_min_columns, narrow_team_min_bytes).
TYPED_TEST(NetworkT, NarrowTeamSize) {
    using T = TypeParam;
    const int threads = blas::OneThreadHeld::wanted_threads();
    if (!narrow_layers_supported() || threads < 2) GTEST_SKIP() << "needs the narrow layers and two threads";
    const Network<T> planar({2, 4, 1}, {Activation::tanh, Activation::sigmoid});
    std::vector<T> x(2 * 100000);
    auto X = [&](index m, bool col_major = false) { return Matrix<const T>(x.data(), 2, m, col_major); };
    // tanh and the output's sigmoid: 15 values' worth an example, 16 KiB a thread
    const index per_example = 15 * static_cast<index>(sizeof(T));
    const index least = (2 * narrow_team_min_bytes + per_example - 1) / per_example;
    EXPECT_EQ(narrow_team_bytes_per_example(planar.layers()), per_example);
    EXPECT_EQ(planar.narrow_team_size(X(least - 1), false), 1);
    EXPECT_EQ(planar.narrow_team_size(X(least), false), 2);
    EXPECT_EQ(planar.narrow_team_size(X(least), true), 1);        // Gram space
    EXPECT_EQ(planar.narrow_team_size(X(least, true), false), 1);  // X by columns
    EXPECT_EQ(planar.narrow_team_size(X(100000), false), std::min(threads, 100000 / 64));
    // relu counts once: 4 + 3 values' worth
    const Network<T> planar_relu({2, 4, 1}, {Activation::relu, Activation::sigmoid});
    EXPECT_EQ(narrow_team_bytes_per_example(planar_relu.layers()), 7 * static_cast<index>(sizeof(T)));
    // and every thread needs 64 examples: [8, 2, 8, 2, 8, 2, 8, 2, 1] in tanh has 16 KiB a thread in fewer
    std::vector<Activation> tanh_8(8, Activation::tanh);
    tanh_8.back() = Activation::sigmoid;
    const Network<T> deep_narrow({8, 2, 8, 2, 8, 2, 8, 2, 1}, tanh_8);
    const auto X8 = [&](index m) { return Matrix<const T>(x.data(), 8, m); };
    ASSERT_LT(2 * narrow_team_min_bytes, 100 * narrow_team_bytes_per_example(deep_narrow.layers()));
    EXPECT_EQ(deep_narrow.narrow_team_size(X8(100), false), 1);
    EXPECT_EQ(deep_narrow.narrow_team_size(X8(128), false), 2);
    const Network<T> wider({2, 9, 1}, {Activation::tanh, Activation::sigmoid});  // 9 units: not narrow
    EXPECT_EQ(wider.narrow_team_size(X(100000), false), 1);
    EXPECT_EQ(planar.narrow_team_size(X(127), false), 1);
    EXPECT_EQ(planar.plan_threads(X(least), false).team.size, 2);
    EXPECT_EQ(planar.plan_threads(X(least), false).slices, 1);
}

TYPED_TEST(NetworkT, UndoStepRestoresTheParametersExactly) {
    using T = TypeParam;
    const Case c{{3, 4, 2, 1}, 6};
    Network<T> net = seeded_network<T>(c, Activation::tanh, 300);
    Owned<T> X(3, 6, false, 0, 301);
    auto Y = labels<T>(6, 302);
    auto ws = net.make_workspace(6);
    for (int it = 0; it < 2; ++it) {  // after the first step the spare buffers hold real parameters, too
        const auto before = net.layers();
        net.forward(X.view, ws);
        net.backward(X.view, Y.data(), ws);
        net.step(T(0.3), ws);
        for (index l = 0; l < net.L(); ++l) ASSERT_NE(net.layers()[l].W, before[l].W);
        net.undo_step(ws);
        for (index l = 0; l < net.L(); ++l) {
            EXPECT_EQ(net.layers()[l].W, before[l].W) << "layer " << l + 1 << " iteration " << it;
            EXPECT_EQ(net.layers()[l].b, before[l].b) << "layer " << l + 1 << " iteration " << it;
        }
        net.step(T(0.3), ws);  // redo, to move on
    }
}

TYPED_TEST(NetworkT, TrainEndsAndRevertsWhenTheCostOverflows) {
    using T = TypeParam;
    const Case c{{3, 5, 1}, 16};
    for (int slices : {1, 2}) {  // a team takes the step inside backward (backward_and_step): undone the same
    SCOPED_TRACE("slices " + std::to_string(slices));
    Network<T> net = seeded_network<T>(c, Activation::relu, 400);
    Owned<T> X(3, 16, false, 0, 401, 0.5, 2);
    auto Y = labels<T>(16, 402);
    auto ws = net.make_workspace(16, slices);
    const auto initial = net.layers();
    // a step of this size sends W to ~lr |dW|; two such layers overflow Z[L] to +-inf on the next forward
    const T lr = static_cast<T>(std::numeric_limits<T>::max() / 16);
    const TrainResult r = net.train(X.view, Y.data(), lr, 10, ws, nullptr);
    EXPECT_TRUE(r.diverged);
    EXPECT_TRUE(r.reverted);
    // the first step already overflows the next forward pass; that step is undone, so the parameters are the
    // initial ones again, exactly
    EXPECT_EQ(r.done, 1);
    for (index l = 0; l < net.L(); ++l) {
        EXPECT_EQ(net.layers()[l].W, initial[l].W) << "layer " << l + 1;
        EXPECT_EQ(net.layers()[l].b, initial[l].b) << "layer " << l + 1;
    }
    for (const auto& layer : net.layers())
        for (T w : layer.W) ASSERT_TRUE(std::isfinite(w));
    EXPECT_EQ(ws.backward_threads, slices);
    }
}

// The Gram first layer (gram.hpp) is an exact rewriting of full-batch gradient descent: after k iterations
// the materialised W[1], every other parameter, and the costs equal those of the ordinary path.
TYPED_TEST(NetworkT, GramFirstLayerMatchesThePrimalPath) {
    using T = TypeParam;
    const double tol = sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
    const Case gram_cases[] = {{{50, 6, 3, 1}, 9}, {{20, 4, 1}, 20}, {{7, 1}, 3}, {{30, 5, 2}, 1}};
    for (const Case& c : gram_cases)
        for (Activation hidden : {Activation::relu, Activation::tanh})
            for (bool x_f : {false, true}) {
                SCOPED_TRACE("n_x " + std::to_string(c.dims[0]) + " L " + std::to_string(c.dims.size() - 1) + " m " +
                             std::to_string(c.m) + " " + activation_name(hidden) + (x_f ? " X F-order" : " X C-order"));
                Network<T> primal = seeded_network<T>(c, hidden, 600), gram = seeded_network<T>(c, hidden, 600);
                Owned<T> X(c.dims[0], c.m, x_f, 0, 601, -1, 1);
                auto Y = labels<T>(c.dims.back() * c.m, 602);
                auto wp = primal.make_workspace(c.m), wg = gram.make_workspace(c.m);
                const T lr = T(0.2);
                gram.begin_gram(X.view, lr, wg);
                ASSERT_TRUE(wg.gram.active);
                const TrainResult rp = primal.train(X.view, Y.data(), lr, 6, wp, nullptr);
                const TrainResult rg = gram.train(X.view, Y.data(), lr, 6, wg, nullptr);
                EXPECT_EQ(rg.done, 6);
                EXPECT_TRUE(close<double>({rg.cost}, {(ld)rp.cost}, tol));
                primal.forward(X.view, wp);
                gram.forward(X.view, wg);
                EXPECT_TRUE(close<double>({gram.cost(wg, Y.data())}, {(ld)primal.cost(wp, Y.data())}, tol)) << "cost";
                EXPECT_TRUE(close_normwise(wg.A.back(), to_ld(wp.A.back()), tol)) << "Z[L]";
                gram.materialize_gram(X.view, wg);
                for (index l = 0; l < primal.L(); ++l) {
                    EXPECT_TRUE(close_normwise(gram.layers()[l].W, to_ld(primal.layers()[l].W), tol)) << "W[" << l + 1 << "]";
                    EXPECT_TRUE(close_normwise(gram.layers()[l].b, to_ld(primal.layers()[l].b), tol)) << "b[" << l + 1 << "]";
                }
                if (::testing::Test::HasFailure()) return;
            }
}

// A first layer of one unit or a few streamed (streamed_first_layer.hpp) trains like the ordinary path, and its
// step is undone the same way. The several-unit cases cover every tile shape of the kernel and its remainders:
// units in 1 to 4 vectors, float32's units past a vector packed 2, 4, 8 and 16 rows to a vector (24, 20, 18
// and 17 units) and not packed (32), rows of X not a multiple of a tile, of a packed vector's rows or of a block
// (64), m below one vector, between vectors and beyond the 6-vector column tile.
TYPED_TEST(NetworkT, StreamedFirstLayerMatchesThePrimalPath) {
    using T = TypeParam;
    const double tol = sizeof(T) == sizeof(double) ? 1e-12 : 2e-5;
    const Case cases_1[] = {{{70, 1}, 50},          {{9, 1, 3, 1}, 37},   {{13, 1}, 8},       {{6, 1, 2}, 1},
                            {{3, 1}, 20},           {{70, 2, 1}, 50},     {{37, 5, 3, 1}, 101}, {{8, 9, 1}, 1},
                            {{131, 20, 7, 1}, 209}, {{29, 17, 1}, 5},     {{150, 32, 1}, 97},  {{64, 24, 2}, 16},
                            {{75, 18, 1}, 45},      {{200, 20, 3, 1}, 150}};
    for (const Case& c : cases_1)
        for (Activation hidden : {Activation::relu, Activation::tanh}) {
            if (c.dims[1] > 1 && !streamed_units_supported()) continue;  // the kernel for several units needs AVX-512
            SCOPED_TRACE("n_x " + std::to_string(c.dims[0]) + " L " + std::to_string(c.dims.size() - 1) + " m " +
                         std::to_string(c.m) + " " + activation_name(hidden));
            Network<T> primal = seeded_network<T>(c, hidden, 700), streamed = seeded_network<T>(c, hidden, 700);
            Owned<T> X(c.dims[0], c.m, false, 0, 701, -1, 1);
            auto Y = labels<T>(c.dims.back() * c.m, 702);
            auto wp = primal.make_workspace(c.m), ws = streamed.make_workspace(c.m);
            streamed.begin_streamed(ws);
            const T lr = T(0.3);
            const TrainResult rp = primal.train(X.view, Y.data(), lr, 6, wp, nullptr);
            const TrainResult rs = streamed.train(X.view, Y.data(), lr, 6, ws, nullptr);
            EXPECT_EQ(rs.done, 6);
            EXPECT_TRUE(close<double>({rs.cost}, {(ld)rp.cost}, tol)) << "cost";
            for (int undone = 0; undone < 2; ++undone) {  // after 6 steps, then after undoing the last one
                for (index l = 0; l < primal.L(); ++l) {
                    EXPECT_TRUE(close_normwise(streamed.layers()[l].W, to_ld(primal.layers()[l].W), tol))
                        << "W[" << l + 1 << "] undone " << undone;
                    EXPECT_TRUE(close_normwise(streamed.layers()[l].b, to_ld(primal.layers()[l].b), tol))
                        << "b[" << l + 1 << "] undone " << undone;
                }
                primal.undo_step(wp);
                streamed.undo_step(ws);
            }
            if (::testing::Test::HasFailure()) return;
        }
}

}  // namespace
}  // namespace nn::test
