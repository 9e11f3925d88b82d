// DeepLabCut's Assembler, step for step (see assembler.h). Comments name the Python they
// reproduce where the order of operations decides ties.
#include "predict/assembler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>

#include "common/py_int_set.h"
#include "posebatch/status.h"
#include "predict/linear_assignment.h"

namespace posebatch {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Joint {
  double x, y, confidence;
  int label;  // bodypart
  int idx;    // running index over all candidates of the image
};

struct Link {
  int j1, j2;      // joint indices: source, target bodypart
  float affinity;  // numpy float32 in DeepLabCut
};

// DeepLabCut's Assembly.
struct Assembly {
  explicit Assembly(int num_bodyparts) : data(num_bodyparts, {kNaN, kNaN, 0.0, kNaN}), visible(num_bodyparts, false) {}
  std::vector<std::array<double, 4>> data;  // x, y, confidence (0 when absent), group
  std::vector<bool> visible;                // by bodypart
  int n_visible = 0;
  PyIntSet idx;  // joint indices
  // Python's `0 + np.float32` is a float64 in NumPy 1.x: float32 affinities summed in double.
  double affinity_sum = 0;
  std::vector<int> links;  // link ids, in order added
};

using AssemblyPtr = std::shared_ptr<Assembly>;

// lookup[i]: Python dict {j: link} in insertion order.
using Lookup = std::vector<std::vector<std::pair<int, int>>>;

void LookupSet(std::vector<std::pair<int, int>>& d, int key, int link) {
  for (auto& kv : d) {
    if (kv.first == key) {
      kv.second = link;
      return;
    }
  }
  d.emplace_back(key, link);
}

void LookupPop(std::vector<std::pair<int, int>>& d, int key) {
  for (auto it = d.begin(); it != d.end(); ++it) {
    if (it->first == key) {
      d.erase(it);
      return;
    }
  }
}

class ImageAssembler {
 public:
  ImageAssembler(const ImageDetections& det, const AssemblerParams& p) : det_(det), p_(p) {}

  std::vector<AssembledAnimal> Run() {
    FlattenDetections();
    std::vector<AssemblyPtr> assemblies;
    bool any_multi = false;
    for (int k = 0; k < p_.num_bodyparts; ++k) any_multi |= !bag_[k].empty();
    if (!any_multi) return {};
    if (p_.num_bodyparts == 1) {
      for (int j : bag_[0]) {
        if (joints_[j].confidence >= p_.pcutoff) {
          auto a = std::make_shared<Assembly>(1);
          AddJoint(*a, joints_[j]);
          assemblies.push_back(a);
        }
      }
      return Report(assemblies);
    }
    if (p_.max_individuals == 1) {
      auto a = std::make_shared<Assembly>(p_.num_bodyparts);
      for (int k = 0; k < p_.num_bodyparts; ++k) {
        if (bag_[k].empty()) continue;
        int best = bag_[k][0];  // max(): the first of equal maxima
        for (int j : bag_[k])
          if (joints_[j].confidence > joints_[best].confidence) best = j;
        AddJoint(*a, joints_[best]);
      }
      return Report({a});
    }
    ExtractBestLinks();
    assemblies = BuildAssemblies();
    // Remove invalid assemblies (iterating a reversed copy, removing by identity).
    for (auto it = assemblies.rbegin(); it != assemblies.rend();) {
      const int n_links = static_cast<int>((*it)->links.size());
      if ((n_links > 0 && n_links < p_.min_n_links) || (*it)->n_visible == 0) {
        it = decltype(it)(assemblies.erase(std::next(it).base()));
      } else {
        ++it;
      }
    }
    if (p_.max_overlap > 0 && p_.max_overlap < 1) assemblies = SuppressOverlaps(std::move(assemblies));
    if (static_cast<int>(assemblies.size()) > p_.max_individuals) {
      std::stable_sort(assemblies.begin(), assemblies.end(),
                       [](const AssemblyPtr& a, const AssemblyPtr& b) { return a->n_visible > b->n_visible; });
      assemblies.resize(p_.max_individuals);
    }
    return Report(assemblies);
  }

 private:
  // _flatten_detections: bodyparts whose coordinates are all zero (or absent) are skipped.
  void FlattenDetections() {
    bag_.assign(p_.num_bodyparts, {});
    for (int k = 0; k < static_cast<int>(det_.candidates.size()); ++k) {
      const auto& cands = det_.candidates[k];
      bool any_nonzero = false;
      for (const Candidate& c : cands) any_nonzero |= (c.x != 0 || c.y != 0);
      if (!any_nonzero) continue;
      for (const Candidate& c : cands) {
        const int idx = static_cast<int>(joints_.size());
        joints_.push_back(Joint{c.x, c.y, static_cast<double>(c.score), k, idx});
        if (k < p_.num_bodyparts) bag_[k].push_back(idx);
      }
    }
  }

  bool AddJoint(Assembly& a, const Joint& j) {
    if (a.visible[j.label]) return false;
    a.data[j.label] = {j.x, j.y, j.confidence, -1.0};
    a.visible[j.label] = true;
    ++a.n_visible;
    a.idx.Add(j.idx);
    return true;
  }

  bool AddLink(Assembly& a, int link_id) {
    const Link& l = links_[link_id];
    if (a.idx.Contains(l.j1) && a.idx.Contains(l.j2)) {
      a.affinity_sum += l.affinity;
      a.links.push_back(link_id);
      return false;
    }
    if (a.visible[joints_[l.j1].label] && a.visible[joints_[l.j2].label]) return false;
    AddJoint(a, joints_[l.j1]);
    AddJoint(a, joints_[l.j2]);
    a.affinity_sum += l.affinity;
    a.links.push_back(link_id);
    return true;
  }

  // Assembly.__contains__: do they share a bodypart?
  static bool SharesBodypart(const Assembly& a, const Assembly& b) {
    for (size_t k = 0; k < a.visible.size(); ++k)
      if (a.visible[k] && b.visible[k]) return true;
    return false;
  }

  // Assembly.__add__: a new assembly built from both link lists.
  Assembly Merge(const Assembly& a, const Assembly& b) {
    Assembly out(p_.num_bodyparts);
    for (int l : a.links) AddLink(out, l);
    for (int l : b.links) AddLink(out, l);
    return out;
  }

  // extract_best_links, non-greedy: per edge, the strongest candidates of each end (at most
  // max_individuals, above pcutoff), paired by maximum-affinity assignment.
  void ExtractBestLinks() {
    for (int ind : p_.paf_inds) {
      const int s = p_.graph[ind][0], t = p_.graph[ind][1];
      if (s >= p_.num_bodyparts || t >= p_.num_bodyparts || bag_[s].empty() || bag_[t].empty()) continue;
      auto cost = det_.affinities.find(ind);
      if (cost == det_.affinities.end()) continue;
      const std::vector<int>& dets_s = bag_[s];
      const std::vector<int>& dets_t = bag_[t];
      const AffinityMatrix& m = cost->second;
      if (m.rows != static_cast<int64_t>(dets_s.size()) || m.cols != static_cast<int64_t>(dets_t.size())) {
        throw Error(Status::Internal("PAF affinities of edge " + std::to_string(ind) + " are " +
                                     std::to_string(m.rows) + " x " + std::to_string(m.cols) + " for " +
                                     std::to_string(dets_s.size()) + " x " + std::to_string(dets_t.size()) +
                                     " candidates"));
      }
      // bag_[s] holds every candidate of bodypart s, in order: positions in both agree.
      const std::vector<int> keep_s = PairedCandidates(det_.candidates[s], p_.max_individuals, p_.pcutoff);
      const std::vector<int> keep_t = PairedCandidates(det_.candidates[t], p_.max_individuals, p_.pcutoff);
      const bool block = m.paired_only;
      if (block ? (m.row_ids != keep_s || m.col_ids != keep_t || m.values.size() != keep_s.size() * keep_t.size())
                : m.values.size() != static_cast<size_t>(m.rows * m.cols)) {
        throw Error(Status::Internal("PAF affinities of edge " + std::to_string(ind) +
                                     " do not cover the candidates the assembler pairs"));
      }
      std::vector<double> sub(keep_s.size() * keep_t.size());
      std::vector<float> sub_f(sub.size());
      for (size_t r = 0; r < keep_s.size(); ++r) {
        for (size_t c = 0; c < keep_t.size(); ++c) {
          float v = block ? m.values[r * keep_t.size() + c] : m.values[keep_s[r] * m.cols + keep_t[c]];
          if (std::isnan(v)) v = 0;
          sub_f[r * keep_t.size() + c] = v;
          sub[r * keep_t.size() + c] = v;
        }
      }
      const auto pairs = SolveLinearAssignment(sub, static_cast<int64_t>(keep_s.size()),
                                               static_cast<int64_t>(keep_t.size()), /*maximize=*/true);
      // numpy compares a float32 affinity with a Python float in float32.
      const float min_affinity = static_cast<float>(p_.min_affinity);
      for (const auto& [r, c] : pairs) {
        const float w = sub_f[r * keep_t.size() + c];
        if (w >= min_affinity) links_.push_back(Link{dets_s[keep_s[r]], dets_t[keep_t[c]], w});
      }
    }
  }

  // _fill_assembly without edge safety: grow along the strongest links from the assembly's
  // joints, as heapq pops (-affinity, insertion counter).
  void FillAssembly(Assembly& a, Lookup& lookup, const std::unordered_set<int>& assembled) {
    using Entry = std::tuple<float, int64_t, int>;  // -affinity, counter, link id
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> stack;
    std::set<std::pair<int, int>> visited;
    int64_t counter = 0;
    auto push_from = [&](int i) {
      for (const auto& [j, link_id] : lookup[i]) {
        if (a.idx.Contains(j)) continue;
        const Link& l = links_[link_id];
        if (!visited.insert({l.j1, l.j2}).second) continue;
        stack.emplace(-l.affinity, counter++, link_id);
      }
    };
    for (int64_t i : a.idx.Keys()) push_from(static_cast<int>(i));
    while (!stack.empty() && a.n_visible < p_.num_bodyparts) {
      const int best = std::get<2>(stack.top());
      stack.pop();
      const Link& l = links_[best];
      int new_ind;
      if (a.idx.Contains(l.j1)) {
        new_ind = l.j2;
      } else if (a.idx.Contains(l.j2)) {
        new_ind = l.j1;
      } else {
        continue;
      }
      if (assembled.count(new_ind)) continue;
      AddLink(a, best);
      push_from(new_ind);
    }
  }

  std::vector<AssemblyPtr> BuildAssemblies() {
    Lookup lookup(joints_.size());
    for (int id = 0; id < static_cast<int>(links_.size()); ++id) {
      LookupSet(lookup[links_[id].j1], links_[id].j2, id);
      LookupSet(lookup[links_[id].j2], links_[id].j1, id);
    }
    std::vector<AssemblyPtr> assemblies;
    std::unordered_set<int> assembled;
    auto mark_assembled = [&](const Assembly& a) {
      for (int64_t i : a.idx.Keys()) assembled.insert(static_cast<int>(i));
    };

    // Unambiguous complete animals: connected components (networkx's order: by first node,
    // nodes in order of appearance in the links) with exactly one joint per bodypart count.
    for (const std::vector<int>& component : ConnectedComponents()) {
      if (static_cast<int>(component.size()) != p_.num_bodyparts) continue;
      std::unordered_set<int> members(component.begin(), component.end());
      auto a = std::make_shared<Assembly>(p_.num_bodyparts);
      for (int id = 0; id < static_cast<int>(links_.size()); ++id) {
        const int i = links_[id].j1, j = links_[id].j2;
        // DeepLabCut tests `(i, j) in edges` with edges as sorted tuples: links whose source
        // joint has the larger index are not taken here.
        if (i < j && members.count(i) && AddLink(*a, id)) {
          LookupPop(lookup[i], j);
          LookupPop(lookup[j], i);
        }
      }
      mark_assembled(*a);
      assemblies.push_back(a);
    }
    if (static_cast<int>(assemblies.size()) == p_.max_individuals) return assemblies;

    std::vector<int> by_affinity(links_.size());
    std::iota(by_affinity.begin(), by_affinity.end(), 0);
    std::stable_sort(by_affinity.begin(), by_affinity.end(),
                     [&](int a, int b) { return links_[a].affinity > links_[b].affinity; });
    for (int id : by_affinity) {
      if (assembled.count(links_[id].j1) || assembled.count(links_[id].j2)) continue;
      auto a = std::make_shared<Assembly>(p_.num_bodyparts);
      AddLink(*a, id);
      FillAssembly(*a, lookup, assembled);
      for (int l : a->links) {
        LookupPop(lookup[links_[l].j1], links_[l].j2);
        LookupPop(lookup[links_[l].j2], links_[l].j1);
      }
      mark_assembled(*a);
      assemblies.push_back(a);
    }

    // Fuse superfluous partial assemblies over links no assembly used.
    if (static_cast<int>(assemblies.size()) > p_.max_individuals) {
      std::map<int, AssemblyPtr> store;
      for (const auto& a : assemblies) {
        if (a->n_visible == p_.num_bodyparts) continue;
        for (int64_t i : a->idx.Keys()) store[static_cast<int>(i)] = a;
      }
      std::unordered_set<int> used;
      for (const auto& a : assemblies) used.insert(a->links.begin(), a->links.end());
      for (int id = 0; id < static_cast<int>(links_.size()); ++id) {
        if (used.count(id)) continue;
        auto si = store.find(links_[id].j1), sj = store.find(links_[id].j2);
        if (si == store.end() || sj == store.end()) continue;  // Python's KeyError, ignored
        const AssemblyPtr a_i = si->second, a_j = sj->second;
        if (SharesBodypart(*a_i, *a_j)) continue;
        *a_i = Merge(*a_i, *a_j);  // __dict__.update: a_i keeps its identity
        assemblies.erase(std::find(assemblies.begin(), assemblies.end(), a_j));
        for (int64_t i : a_j->idx.Keys()) store[static_cast<int>(i)] = a_i;
      }
    }

    // Second pass without edge safety.
    for (const auto& a : assemblies) {
      if (a->n_visible == p_.num_bodyparts) continue;
      FillAssembly(*a, lookup, assembled);
      mark_assembled(*a);
    }
    return assemblies;
  }

  std::vector<std::vector<int>> ConnectedComponents() const {
    std::vector<int> parent(joints_.size());
    std::iota(parent.begin(), parent.end(), 0);
    auto find = [&](int x) {
      while (parent[x] != x) x = parent[x] = parent[parent[x]];
      return x;
    };
    std::vector<int> node_order;
    std::vector<bool> seen(joints_.size(), false);
    for (const Link& l : links_) {
      for (int n : {l.j1, l.j2}) {
        if (seen[n]) continue;
        seen[n] = true;
        node_order.push_back(n);
      }
      parent[find(l.j1)] = find(l.j2);
    }
    std::vector<std::vector<int>> components;
    std::map<int, size_t> component_of_root;
    for (int n : node_order) {
      const int root = find(n);
      auto it = component_of_root.find(root);
      if (it == component_of_root.end()) {
        it = component_of_root.emplace(root, components.size()).first;
        components.emplace_back();
      }
      components[it->second].push_back(n);
    }
    return components;
  }

  // Assembly.intersection_with: the smaller fraction of either assembly's keypoints inside
  // the intersection of their bounding boxes.
  static double IntersectionWith(const Assembly& a, const Assembly& b) {
    auto extent = [](const Assembly& s) {
      std::array<double, 4> e{kNaN, kNaN, kNaN, kNaN};  // nanmin x, y, nanmax x, y
      for (const auto& row : s.data) {
        for (int c = 0; c < 2; ++c) {
          if (std::isnan(row[c])) continue;
          if (std::isnan(e[c]) || row[c] < e[c]) e[c] = row[c];
          if (std::isnan(e[c + 2]) || row[c] > e[c + 2]) e[c + 2] = row[c];
        }
      }
      return e;
    };
    const auto ea = extent(a), eb = extent(b);
    const double x1 = std::max(ea[0], eb[0]), y1 = std::max(ea[1], eb[1]);
    const double x2 = std::min(ea[2], eb[2]), y2 = std::min(ea[3], eb[3]);
    if (x2 < x1 || y2 < y1) return 0;
    auto inside = [&](const Assembly& s) {
      int n = 0;
      for (const auto& row : s.data) {
        if (std::isnan(row[0]) || std::isnan(row[1])) continue;
        n += row[0] >= x1 && row[1] >= y1 && row[0] <= x2 && row[1] <= y2;
      }
      return static_cast<double>(n);
    };
    return std::min(inside(a) / a.n_visible, inside(b) / b.n_visible);
  }

  // Non-maximum pose suppression: best summed affinity first (first of equals), dropping
  // assemblies that overlap it by max_overlap or more.
  std::vector<AssemblyPtr> SuppressOverlaps(std::vector<AssemblyPtr> pending) const {
    std::vector<AssemblyPtr> kept;
    while (!pending.empty()) {
      size_t best = 0;
      for (size_t i = 1; i < pending.size(); ++i)
        if (pending[i]->affinity_sum > pending[best]->affinity_sum) best = i;
      const AssemblyPtr top = pending[best];
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(best));
      kept.push_back(top);
      for (size_t i = pending.size(); i-- > 0;) {
        if (IntersectionWith(*top, *pending[i]) >= p_.max_overlap) pending.erase(pending.begin() + i);
      }
    }
    return kept;
  }

  std::vector<AssembledAnimal> Report(const std::vector<AssemblyPtr>& assemblies) const {
    std::vector<AssembledAnimal> out;
    for (const auto& a : assemblies) {
      if (static_cast<int>(out.size()) == p_.max_individuals) break;
      AssembledAnimal animal;
      animal.keypoints = a->data;
      animal.affinity = a->links.empty() ? 0.0 : a->affinity_sum / static_cast<double>(a->links.size());
      out.push_back(std::move(animal));
    }
    return out;
  }

  const ImageDetections& det_;
  const AssemblerParams& p_;
  std::vector<Joint> joints_;
  std::vector<std::vector<int>> bag_;  // joint indices per bodypart
  std::vector<Link> links_;
};

}  // namespace

std::vector<AssembledAnimal> AssembleAnimals(const ImageDetections& detections, const AssemblerParams& params) {
  if (params.num_bodyparts < 1 || params.max_individuals < 1) {
    throw Error(Status::InvalidArgument("assembler needs at least one bodypart and one animal"));
  }
  for (int ind : params.paf_inds) {
    if (ind < 0 || ind >= static_cast<int>(params.graph.size())) {
      throw Error(Status::InvalidArgument("PAF edge index " + std::to_string(ind) + " is outside the graph (" +
                                          std::to_string(params.graph.size()) + " edges)"));
    }
  }
  return ImageAssembler(detections, params).Run();
}

std::vector<int> PairedCandidates(const std::vector<Candidate>& candidates, int max_individuals, double pcutoff) {
  // sorted(..., key=confidence, reverse=True)[:max_individuals], a stable sort: equal
  // confidences keep peak order. Kept as a running top-n list (a later candidate goes after
  // every kept one at least as confident), which is that sort's prefix without sorting all.
  const size_t n = static_cast<size_t>(std::max(max_individuals, 0));
  std::vector<int> top;
  top.reserve(n + 1);
  for (int i = 0; i < static_cast<int>(candidates.size()); ++i) {
    const float score = candidates[i].score;
    size_t at = 0;
    while (at < top.size() && !(score > candidates[top[at]].score)) ++at;
    if (at >= n) continue;
    top.insert(top.begin() + static_cast<std::ptrdiff_t>(at), i);
    if (top.size() > n) top.pop_back();
  }
  std::vector<int> keep;
  for (int i : top)  // float32 confidences compared with a Python float, in double
    if (static_cast<double>(candidates[i].score) >= pcutoff) keep.push_back(i);
  return keep;
}

std::vector<int64_t> PythonSetIterationOrder(const std::vector<int64_t>& keys) {
  PyIntSet s;
  for (int64_t k : keys) s.Add(k);
  return s.Keys();
}

}  // namespace posebatch
