// _prestitch_residuals (tracking.md §3.3): residuals less than `max_gap` frames apart are
// linked (weight 1 - IoU of the boxes either side); each weakly connected component becomes
// one chain along its longest path. Ties are common (IoU 0 gives weight 1), so the orders
// networkx 2.8 iterates in are kept: components found by BFS over Python sets of ints, and
// the subgraph's nodes in the set's order when it is under half the graph (FilterAtlas).
#include <algorithm>
#include <numeric>
#include <vector>

#include "common/py_int_set.h"
#include "track/stitch_parts.h"

namespace posebatch {
namespace stitch {

namespace {

struct Edge {
  size_t to;
  double weight;
};

// The residual graph in networkx's insertion orders: nodes as add_edge first met them,
// successors and predecessors in the order their edges were added.
struct Dag {
  std::vector<int64_t> nodes;                   // insertion order
  std::vector<std::vector<Edge>> succ, pred;    // by residual index
  std::vector<std::vector<size_t>> undirected;  // to_undirected's adjacency order
  std::vector<bool> present;

  explicit Dag(size_t n) : succ(n), pred(n), undirected(n), present(n) {}
  void AddNode(size_t v) {
    if (present[v]) return;
    present[v] = true;
    nodes.push_back(static_cast<int64_t>(v));
  }
  void AddEdge(size_t u, size_t v, double w) {
    AddNode(u);
    AddNode(v);
    succ[u].push_back({v, w});
    pred[v].push_back({u, w});
  }
  // Graph.to_undirected: nodes in order; for each node, its successors then (as later nodes'
  // successors add them) its predecessors, each neighbour once, first mention wins.
  void BuildUndirected() {
    auto link = [&](size_t a, size_t b) {
      if (std::find(undirected[a].begin(), undirected[a].end(), b) == undirected[a].end()) undirected[a].push_back(b);
    };
    for (int64_t u : nodes) {
      for (const Edge& e : succ[static_cast<size_t>(u)]) {
        link(static_cast<size_t>(u), e.to);
        link(e.to, static_cast<size_t>(u));
      }
    }
  }
};

// connected_components: _plain_bfs from each unseen node in node order; a component is the
// set `seen` its BFS filled (levels are sets too).
std::vector<PyIntSet> Components(const Dag& g) {
  std::vector<PyIntSet> comps;
  std::vector<bool> seen_any(g.present.size());
  for (int64_t v : g.nodes) {
    if (seen_any[static_cast<size_t>(v)]) continue;
    PyIntSet seen, next;
    next.Add(v);
    while (next.size() > 0) {
      const std::vector<int64_t> level = next.Keys();
      next = PyIntSet();
      for (int64_t u : level) {
        if (seen.Contains(u)) continue;
        seen.Add(u);
        for (size_t w : g.undirected[static_cast<size_t>(u)]) next.Add(static_cast<int64_t>(w));
      }
    }
    for (int64_t u : seen.Keys()) seen_any[static_cast<size_t>(u)] = true;
    comps.push_back(seen);
  }
  return comps;
}

// dag_longest_path on G.subgraph(comp): topological generations from the zero-in-degree nodes
// in subgraph order; each node's best predecessor is the first maximal one (pred order); the
// end is the first maximal node in topological order. NaN weights compare false throughout,
// as in Python.
std::vector<size_t> LongestPath(const Dag& g, const PyIntSet& comp) {
  // The subgraph's node order: the NODE_OK set (built from the component's order) when it is
  // under half of the graph, else the graph's insertion order.
  std::vector<int64_t> order;
  if (2 * comp.size() < g.nodes.size()) {
    PyIntSet node_ok;
    for (int64_t v : comp.Keys()) node_ok.Add(v);
    order = node_ok.Keys();
  } else {
    for (int64_t v : g.nodes)
      if (comp.Contains(v)) order.push_back(v);
  }
  std::vector<int64_t> indegree(g.present.size(), 0);
  std::vector<size_t> zero;
  for (int64_t v : order) {
    indegree[static_cast<size_t>(v)] = static_cast<int64_t>(g.pred[static_cast<size_t>(v)].size());
    if (indegree[static_cast<size_t>(v)] == 0) zero.push_back(static_cast<size_t>(v));
  }
  std::vector<size_t> topo;
  while (!zero.empty()) {
    std::vector<size_t> generation;
    generation.swap(zero);
    for (size_t u : generation) {
      topo.push_back(u);
      for (const Edge& e : g.succ[u])
        if (--indegree[e.to] == 0) zero.push_back(e.to);
    }
  }
  std::vector<double> length(g.present.size(), 0);
  std::vector<size_t> from(g.present.size());
  for (size_t v : topo) {
    double best = 0;
    size_t best_u = v;
    bool any = false;
    for (const Edge& e : g.pred[v]) {
      const double cand = length[e.to] + e.weight;  // pred edges hold the predecessor in `to`
      if (!any || cand > best) {
        best = cand;
        best_u = e.to;
        any = true;
      }
    }
    if (any && best >= 0) {
      length[v] = best;
      from[v] = best_u;
    } else {
      length[v] = 0;
      from[v] = v;
    }
  }
  size_t end = topo.front();
  for (size_t v : topo)
    if (length[v] > length[end]) end = v;
  std::vector<size_t> path;
  size_t u = end + 1, v = end;  // u != v to start
  while (u != v) {
    path.push_back(v);
    u = v;
    v = from[v];
  }
  std::reverse(path.begin(), path.end());
  return path;
}

}  // namespace

void PrestitchResiduals(std::vector<TrackletRows>* residuals, int64_t max_gap) {
  std::vector<size_t> sorted(residuals->size());
  std::iota(sorted.begin(), sorted.end(), size_t{0});
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](size_t a, size_t b) { return (*residuals)[a].frames.front() < (*residuals)[b].frames.front(); });
  auto r = [&](size_t i) -> const TrackletRows& { return (*residuals)[sorted[i]]; };
  Dag g(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const int64_t end = r(i).frames.back();
    for (size_t j = i + 1; j < sorted.size(); ++j) {
      const int64_t gap = r(j).frames.front() - end;
      if (gap < 1) continue;
      if (gap >= max_gap) break;
      g.AddEdge(i, j, 1 - BoxOverlap(r(i), r(j)));
    }
  }
  g.BuildUndirected();
  std::vector<TrackletRows> chains;
  std::vector<size_t> to_remove;
  for (const PyIntSet& comp : Components(g)) {
    const std::vector<size_t> path = LongestPath(g, comp);
    TrackletRows chain;
    for (size_t i : path) chain = Concat(chain, r(i));
    to_remove.insert(to_remove.end(), path.begin(), path.end());
    chains.push_back(std::move(chain));
  }
  // DeepLabCut pops these indices of the *sorted* list from the unsorted one.
  std::sort(to_remove.rbegin(), to_remove.rend());
  for (size_t i : to_remove) residuals->erase(residuals->begin() + static_cast<std::ptrdiff_t>(i));
  for (auto& c : chains) residuals->push_back(std::move(c));
}

}  // namespace stitch
}  // namespace posebatch
