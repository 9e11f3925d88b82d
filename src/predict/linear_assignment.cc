#include "predict/linear_assignment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "posebatch/status.h"

namespace posebatch {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Solver state for a problem with n_rows <= n_cols (wider than tall, after transposing).
class ShortestAugmentingPath {
 public:
  ShortestAugmentingPath(std::vector<double> cost, int64_t n_rows, int64_t n_cols)
      : cost_(std::move(cost)),
        n_rows_(n_rows),
        n_cols_(n_cols),
        row_dual_(n_rows, 0.0),
        col_dual_(n_cols, 0.0),
        path_cost_(n_cols),
        predecessor_(n_cols, -1),
        col_of_row_(n_rows, -1),
        row_of_col_(n_cols, -1),
        row_visited_(n_rows),
        col_visited_(n_cols) {}

  // Returns the column of each row.
  std::vector<int64_t> Solve() {
    for (int64_t row = 0; row < n_rows_; ++row) {
      double path_length = 0;
      const int64_t sink = FindPath(row, &path_length);
      if (sink < 0) throw Error(Status::InvalidArgument("linear assignment: cost matrix is infeasible"));
      UpdateDuals(row, path_length);
      Augment(row, sink);
    }
    return col_of_row_;
  }

 private:
  // Dijkstra-like search from `start` for the nearest free column in reduced costs; returns
  // it (or -1 when every remaining column is at infinite cost) and its path length.
  int64_t FindPath(int64_t start, double* length) {
    std::fill(row_visited_.begin(), row_visited_.end(), false);
    std::fill(col_visited_.begin(), col_visited_.end(), false);
    std::fill(path_cost_.begin(), path_cost_.end(), kInf);
    // Unvisited columns, last first: a constant matrix then yields the identity (scipy #11602).
    std::vector<int64_t> unvisited(n_cols_);
    for (int64_t k = 0; k < n_cols_; ++k) unvisited[k] = n_cols_ - 1 - k;
    double reached = 0;
    int64_t row = start;
    while (true) {
      row_visited_[row] = true;
      int64_t best_pos = -1;
      double best = kInf;
      for (size_t pos = 0; pos < unvisited.size(); ++pos) {
        const int64_t col = unvisited[pos];
        const double reduced = reached + cost_[row * n_cols_ + col] - row_dual_[row] - col_dual_[col];
        if (reduced < path_cost_[col]) {
          predecessor_[col] = row;
          path_cost_[col] = reduced;
        }
        // Ties go to a free column: it ends the search.
        if (path_cost_[col] < best || (path_cost_[col] == best && row_of_col_[col] == -1)) {
          best = path_cost_[col];
          best_pos = static_cast<int64_t>(pos);
        }
      }
      reached = best;
      if (reached == kInf) return -1;
      const int64_t col = unvisited[best_pos];
      col_visited_[col] = true;
      // Remove by moving the last entry into its place (the scan order this gives matters for ties).
      unvisited[best_pos] = unvisited.back();
      unvisited.pop_back();
      if (row_of_col_[col] == -1) {
        *length = reached;
        return col;
      }
      row = row_of_col_[col];
    }
  }

  void UpdateDuals(int64_t start, double length) {
    row_dual_[start] += length;
    for (int64_t r = 0; r < n_rows_; ++r) {
      if (row_visited_[r] && r != start) row_dual_[r] += length - path_cost_[col_of_row_[r]];
    }
    for (int64_t c = 0; c < n_cols_; ++c) {
      if (col_visited_[c]) col_dual_[c] -= length - path_cost_[c];
    }
  }

  void Augment(int64_t start, int64_t sink) {
    int64_t col = sink;
    while (true) {
      const int64_t row = predecessor_[col];
      row_of_col_[col] = row;
      std::swap(col_of_row_[row], col);
      if (row == start) break;
    }
  }

  std::vector<double> cost_;
  int64_t n_rows_, n_cols_;
  std::vector<double> row_dual_, col_dual_, path_cost_;
  std::vector<int64_t> predecessor_, col_of_row_, row_of_col_;
  std::vector<bool> row_visited_, col_visited_;
};

}  // namespace

std::vector<std::pair<int64_t, int64_t>> SolveLinearAssignment(const std::vector<double>& cost, int64_t rows,
                                                               int64_t cols, bool maximize) {
  if (rows < 0 || cols < 0 || static_cast<int64_t>(cost.size()) != rows * cols) {
    throw Error(Status::Internal("linear assignment: cost has " + std::to_string(cost.size()) + " entries, not " +
                                 std::to_string(rows) + " x " + std::to_string(cols)));
  }
  std::vector<std::pair<int64_t, int64_t>> pairs;
  if (rows == 0 || cols == 0) return pairs;
  // The solver wants at least as many columns as rows: solve the transpose of tall matrices.
  const bool transpose = cols < rows;
  const int64_t n_rows = transpose ? cols : rows, n_cols = transpose ? rows : cols;
  std::vector<double> work(cost.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      double v = cost[r * cols + c];
      if (maximize) v = -v;
      if (std::isnan(v) || v == -kInf) {
        throw Error(Status::InvalidArgument("linear assignment: cost matrix holds NaN or " +
                                            std::string(maximize ? "+inf (maximizing)" : "-inf")));
      }
      work[transpose ? c * rows + r : r * cols + c] = v;
    }
  }
  const std::vector<int64_t> col_of_row = ShortestAugmentingPath(std::move(work), n_rows, n_cols).Solve();
  if (!transpose) {
    for (int64_t r = 0; r < n_rows; ++r) pairs.emplace_back(r, col_of_row[r]);
    return pairs;
  }
  // Solved rows are the original columns; report by original row.
  for (int64_t c = 0; c < n_rows; ++c) pairs.emplace_back(col_of_row[c], c);
  std::sort(pairs.begin(), pairs.end());
  return pairs;
}

}  // namespace posebatch
