// The rectangular linear assignment problem, solved as scipy.optimize.linear_sum_assignment
// does (DeepLabCut's assembler pairs keypoints with it): the shortest augmenting path method
// of Crouse (2016), rows processed in order, columns scanned from the last to the first, and
// among equally short paths the one ending at a free column. Optimal assignments are often not
// unique (affinities are rounded to 3 decimals); these rules pick the same one as scipy.
// Free function of its inputs: thread-safe.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace posebatch {

// cost: rows x cols, row-major. Returns min(rows, cols) (row, col) pairs, sorted by row,
// minimizing (or, with maximize, maximizing) the sum of the chosen costs. Throws Error
// (kInvalidArgument) for NaN entries, -inf (+inf when maximizing) entries, or when no
// assignment of finite cost exists, as scipy raises ValueError.
std::vector<std::pair<int64_t, int64_t>> SolveLinearAssignment(const std::vector<double>& cost, int64_t rows,
                                                               int64_t cols, bool maximize);

}  // namespace posebatch
