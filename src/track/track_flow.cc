// The min-cost flow behind stitching, solved by LEMON (a maintained graph library): build_graph +
// stitch (NetworkSimplex). The fallback's disjoint paths are networkx's own (disjoint_paths.cc).
// The graph is DeepLabCut's (tracking.md §3.4): source -> in_i (capacity 1), in_i -> out_i
// (capacity 1, so a tracklet may carry two tracks), out_i -> sink, out_i -> in_j per link;
// in_i needs one unit, out_i gives one, the source gives n_tracks, the sink takes them.
#define LEMON_ONLY_TEMPLATES  // header-only: no link dependency on liblemon
// GCC 12 sees LEMON's graph arrays (plain structs appended to vectors) as maybe uninitialized
// once inlined here: a false positive in the library's code, silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>

#include "track/stitch_parts.h"

namespace posebatch {
namespace stitch {

namespace {

using Graph = lemon::SmartDigraph;

// The arcs leaving each out-node, in networkx's adjacency order: the sink first, then the
// links in the order they were added.
struct OutArcs {
  Graph::Arc to_sink;
  std::vector<std::pair<Graph::Arc, size_t>> links;  // arc, target node
};

}  // namespace

bool MinCostPaths(size_t n_nodes, const std::vector<Link>& links, int64_t n_tracks,
                  std::vector<std::vector<size_t>>* paths) {
  Graph g;
  Graph::ArcMap<int> capacity(g);
  Graph::ArcMap<int64_t> cost(g);
  Graph::NodeMap<int> supply(g);  // LEMON's supply is networkx's -demand
  const Graph::Node source = g.addNode(), sink = g.addNode();
  supply[source] = static_cast<int>(n_tracks);
  supply[sink] = -static_cast<int>(n_tracks);
  std::vector<Graph::Node> in(n_nodes), out(n_nodes);
  std::vector<Graph::Arc> from_source(n_nodes);
  std::vector<OutArcs> out_arcs(n_nodes);
  auto arc = [&](Graph::Node a, Graph::Node b, int64_t w) {
    Graph::Arc e = g.addArc(a, b);
    capacity[e] = 1;
    cost[e] = w;
    return e;
  };
  for (size_t i = 0; i < n_nodes; ++i) {
    in[i] = g.addNode();
    supply[in[i]] = -1;
  }
  for (size_t i = 0; i < n_nodes; ++i) {
    out[i] = g.addNode();
    supply[out[i]] = 1;
  }
  for (size_t i = 0; i < n_nodes; ++i) arc(in[i], out[i], 0);
  for (size_t i = 0; i < n_nodes; ++i) from_source[i] = arc(source, in[i], 0);
  for (size_t i = 0; i < n_nodes; ++i) out_arcs[i].to_sink = arc(out[i], sink, 0);
  for (const Link& l : links) out_arcs[l.from].links.emplace_back(arc(out[l.from], in[l.to], l.weight), l.to);

  lemon::NetworkSimplex<Graph, int, int64_t> solver(g);
  solver.upperMap(capacity).costMap(cost).supplyMap(supply);
  if (solver.run() != lemon::NetworkSimplex<Graph, int, int64_t>::OPTIMAL) return false;

  // reconstruct_paths: from each in-node the source feeds (in order), follow the first arc
  // with flow, using up link flow (never the sink's) as DeepLabCut does.
  Graph::ArcMap<int> flow(g);
  solver.flowMap(flow);
  paths->clear();
  for (size_t i = 0; i < n_nodes; ++i) {
    if (flow[from_source[i]] != 1) continue;
    std::vector<size_t> path = {i};
    size_t cur = i;
    while (flow[out_arcs[cur].to_sink] != 1) {
      bool moved = false;
      for (auto& [e, to] : out_arcs[cur].links) {
        if (flow[e] == 1) {
          flow[e] -= 1;
          cur = to;
          path.push_back(cur);
          moved = true;
          break;
        }
      }
      if (!moved) break;
    }
    paths->push_back(std::move(path));
  }
  return true;
}

}  // namespace stitch
}  // namespace posebatch
