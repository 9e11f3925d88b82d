// The fallback's disjoint paths (tracking.md §3.5) as DeepLabCut gets them: networkx 2.8's
// node_disjoint_paths(G, "source", "sink", preflow_push, n_tracks) on the pruned stitching graph.
// Its result is not any maximum set of disjoint paths: networkx runs only the first phase of
// preflow-push (value_only), so the flow it reads paths from is a preflow, and it follows the
// saturated edges from the source, the last-added first (dict.popitem), dropping a path that
// dead-ends. So the graph, its node and edge orders, and the algorithm are networkx's, step for
// step. One freedom is left: networkx picks the next active node of a level from a Python set of
// strings, whose order follows the per-process string hash; DeepLabCut's results did not change
// with PYTHONHASHSEED on the cases tried, and this port takes the lowest node index.
#include <algorithm>
#include <deque>
#include <limits>
#include <set>

#include "track/stitch_parts.h"

namespace posebatch {
namespace stitch {
namespace {

// build_residual_network of the auxiliary digraph: every edge (capacity 1) with its reverse
// (capacity 0), adjacency and predecessor lists in networkx's insertion order.
struct Residual {
  struct Edge {
    int from, to, capacity, flow, reverse;
  };
  std::vector<Edge> edges;
  std::vector<std::vector<int>> succ, pred;  // edge ids out of / into each node

  explicit Residual(int n) : succ(n), pred(n) {}
  int size() const { return static_cast<int>(succ.size()); }
  void AddEdge(int u, int v) {
    const int e = static_cast<int>(edges.size());
    edges.push_back({u, v, 1, 0, e + 1});
    edges.push_back({v, u, 0, 0, e});
    succ[u].push_back(e);
    pred[v].push_back(e);
    succ[v].push_back(e + 1);
    pred[u].push_back(e + 1);
  }
  bool Open(int e) const { return edges[e].flow < edges[e].capacity; }
};

// preflow_push_impl(..., global_relabel_freq=1, value_only=True): the maximum preflow.
class PreflowPhaseOne {
 public:
  PreflowPhaseOne(Residual* r, int s, int t)
      : r_(*r), s_(s), t_(t), n_(r->size()), height_(n_), excess_(n_), current_(n_), levels_(2 * n_) {}

  // The excess reaching t (networkx's flow_value).
  int Run() {
    std::vector<int> order;
    std::vector<int> h = ReverseBfs(t_, &order);
    if (h[s_] < 0) return 0;
    int max_height = 0;
    for (int u : order)
      if (u != s_) max_height = std::max(max_height, h[u]);
    h[s_] = n_;
    int edges = static_cast<int>(r_.edges.size());
    threshold_ = n_ + edges;
    for (int u = 0; u < n_; ++u) height_[u] = h[u] >= 0 ? h[u] : n_ + 1;
    for (int e : r_.succ[s_])
      if (r_.edges[e].capacity > 0) Push(e, r_.edges[e].capacity);
    for (int u = 0; u < n_; ++u) {
      if (u == s_ || u == t_) continue;
      (excess_[u] > 0 ? levels_[height_[u]].active : levels_[height_[u]].inactive).insert(u);
    }
    int height = max_height;
    while (height > 0) {
      while (true) {
        Level& level = levels_[height];
        if (level.active.empty()) {
          --height;
          break;
        }
        const int old_height = height;
        Level& old_level = level;
        const int u = *level.active.begin();
        height = Discharge(u);
        if (work_ >= threshold_) {
          height = GlobalRelabel();
          max_height = height;
          work_ = 0;
        } else if (old_level.active.empty() && old_level.inactive.empty()) {
          Gap(old_height, max_height);
          height = old_height - 1;
          max_height = height;
        } else {
          max_height = std::max(max_height, height);
        }
      }
    }
    return excess_[t_];
  }

 private:
  struct Level {
    std::set<int> active, inactive;
  };

  // Heights by breadth-first search backwards from `src` over open edges; -1 where unreached.
  // `order`: the nodes in the order reached.
  std::vector<int> ReverseBfs(int src, std::vector<int>* order) const {
    std::vector<int> h(n_, -1);
    h[src] = 0;
    order->assign(1, src);
    std::deque<int> q = {src};
    while (!q.empty()) {
      const int u = q.front();
      q.pop_front();
      for (int e : r_.pred[u]) {
        const int v = r_.edges[e].from;
        if (h[v] < 0 && r_.Open(e)) {
          h[v] = h[u] + 1;
          order->push_back(v);
          q.push_back(v);
        }
      }
    }
    return h;
  }

  void Push(int e, int flow) {
    Residual::Edge& edge = r_.edges[e];
    edge.flow += flow;
    r_.edges[edge.reverse].flow -= flow;
    excess_[edge.from] -= flow;
    excess_[edge.to] += flow;
  }

  void Activate(int v) {
    if (v == s_ || v == t_) return;
    Level& level = levels_[height_[v]];
    if (level.inactive.erase(v)) level.active.insert(v);
  }

  int Relabel(int u) {
    work_ += static_cast<int64_t>(r_.succ[u].size());
    int lowest = std::numeric_limits<int>::max();
    for (int e : r_.succ[u])
      if (r_.Open(e)) lowest = std::min(lowest, height_[r_.edges[e].to]);
    return lowest + 1;
  }

  // discharge(u, is_phase1=True): returns the next height to examine.
  int Discharge(int u) {
    int height = height_[u];
    int next_height = height;
    levels_[height].active.erase(u);
    const std::vector<int>& succ = r_.succ[u];
    while (true) {
      const int e = succ[current_[u]];
      const int v = r_.edges[e].to;
      if (height == height_[v] + 1 && r_.Open(e)) {
        Push(e, std::min(excess_[u], r_.edges[e].capacity - r_.edges[e].flow));
        Activate(v);
        if (excess_[u] == 0) {
          levels_[height].inactive.insert(u);
          break;
        }
      }
      if (++current_[u] == succ.size()) {  // CurrentEdge wraps around: relabel
        current_[u] = 0;
        height = Relabel(u);
        if (height >= n_ - 1) {  // on the source's side of the cut: parked until phase 2
          levels_[height].active.insert(u);
          break;
        }
        next_height = height;
      }
    }
    height_[u] = height;
    return next_height;
  }

  // Every node of the levels above `height`, up to `max_height`, to level n + 1.
  void Gap(int height, int max_height) {
    Level& parked = levels_[n_ + 1];
    for (int l = height + 1; l <= max_height && l < 2 * n_; ++l) {
      for (int u : levels_[l].active) height_[u] = n_ + 1;
      for (int u : levels_[l].inactive) height_[u] = n_ + 1;
      parked.active.insert(levels_[l].active.begin(), levels_[l].active.end());
      parked.inactive.insert(levels_[l].inactive.begin(), levels_[l].inactive.end());
      levels_[l].active.clear();
      levels_[l].inactive.clear();
    }
  }

  // global_relabel(from_sink=True): exact heights from t; nodes that cannot reach t to n + 1.
  int GlobalRelabel() {
    std::vector<int> order;
    std::vector<int> h = ReverseBfs(t_, &order);
    int max_height = 0;
    for (int u : order) max_height = std::max(max_height, h[u]);
    for (int u = 0; u < n_; ++u) {
      if (h[u] < 0 && height_[u] < n_) {
        h[u] = n_ + 1;
        order.push_back(u);
      }
    }
    for (int u : order) {
      if (u == t_ || h[u] == height_[u]) continue;
      Level& from = levels_[height_[u]];
      Level& to = levels_[h[u]];
      if (from.active.erase(u)) {
        to.active.insert(u);
      } else {
        from.inactive.erase(u);
        to.inactive.insert(u);
      }
      height_[u] = h[u];
    }
    return max_height;
  }

  Residual& r_;
  const int s_, t_, n_;
  std::vector<int> height_, excess_;
  std::vector<size_t> current_;  // CurrentEdge: a position in succ
  std::vector<Level> levels_;
  int64_t work_ = 0, threshold_ = 0;
};

}  // namespace

bool DisjointPaths(size_t n_nodes, const std::vector<Link>& links, const std::vector<bool>& may_start,
                   const std::vector<bool>& may_end, int64_t cutoff, std::vector<std::vector<size_t>>* paths) {
  paths->clear();
  // DeepLabCut's graph G, nodes in order: source, sink, in_0.., out_0... build_auxiliary_node_
  // connectivity splits node g into 2g ("gA") -> 2g + 1 ("gB"); an edge u -> v of G becomes
  // uB -> vA. Edges enter in G.edges() order: by tail node, each tail's in insertion order.
  const int k = static_cast<int>(n_nodes);
  const int source = 0, sink = 1;
  auto in = [&](int i) { return 2 + i; };
  auto out = [&](int i) { return 2 + k + i; };
  auto a = [](int g) { return 2 * g; };
  auto b = [](int g) { return 2 * g + 1; };
  std::vector<std::vector<int>> g_succ(2 + 2 * k);
  for (int i = 0; i < k; ++i)
    if (may_start[i]) g_succ[source].push_back(in(i));
  for (int i = 0; i < k; ++i) g_succ[in(i)].push_back(out(i));
  for (int i = 0; i < k; ++i)
    if (may_end[i]) g_succ[out(i)].push_back(sink);
  for (const Link& l : links) g_succ[out(static_cast<int>(l.from))].push_back(in(static_cast<int>(l.to)));

  Residual r(2 * static_cast<int>(g_succ.size()));
  for (int g = 0; g < static_cast<int>(g_succ.size()); ++g) {
    r.AddEdge(a(g), b(g));
    for (int v : g_succ[g]) r.AddEdge(b(g), a(v));
  }
  const int s = b(source), t = a(sink);
  int in_t = 0;
  for (int i = 0; i < k; ++i) in_t += may_end[i] ? 1 : 0;
  const int64_t possible = std::min<int64_t>(static_cast<int64_t>(g_succ[source].size()), in_t);
  if (possible == 0) return false;  // NetworkXNoPath
  cutoff = std::min(cutoff, possible);
  if (PreflowPhaseOne(&r, s, t).Run() == 0) return false;

  // The saturated edges, as a dict of dicts in edge order; paths read from it.
  std::vector<std::vector<int>> saturated(r.size());
  for (int u = 0; u < r.size(); ++u) {
    for (int e : r.succ[u]) {
      const Residual::Edge& edge = r.edges[e];
      if (edge.flow == edge.capacity && edge.flow > 0) saturated[u].push_back(edge.to);
    }
  }
  const std::vector<int> firsts = saturated[s];
  int64_t found = 0;
  for (int v : firsts) {
    if (found >= cutoff) break;
    std::vector<int> path;  // auxiliary nodes after s
    int u = v;
    bool complete = true;
    while (u != t) {
      path.push_back(u);
      if (saturated[u].empty()) {
        complete = false;
        break;
      }
      u = saturated[u].back();  // dict.popitem(): the last inserted
      saturated[path.back()].pop_back();
    }
    if (!complete) continue;
    // Auxiliary nodes to G's nodes (each twice, kept once), then G's in/out nodes to tracklets.
    std::vector<size_t> tracklets;
    for (int node : path) {
      const int g = node / 2;
      if (g < 2) continue;
      const size_t i = static_cast<size_t>(g < 2 + k ? g - 2 : g - 2 - k);
      if (std::find(tracklets.begin(), tracklets.end(), i) == tracklets.end()) tracklets.push_back(i);
    }
    paths->push_back(std::move(tracklets));
    ++found;
  }
  return true;
}

}  // namespace stitch
}  // namespace posebatch
