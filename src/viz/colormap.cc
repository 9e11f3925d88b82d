#include "viz/colormap.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "posebatch/status.h"
#include "viz/colormap_tables.h"

namespace posebatch::viz {
namespace {

constexpr int kN = 256;  // matplotlib's default lut size (rcParams image.lut)

// matplotlib's _create_lookup_table for segment data [(x, y0, y1), ...] (x from 0 to 1).
std::vector<double> Segments(const std::vector<std::array<double, 3>>& data) {
  std::vector<double> lut(kN);
  std::vector<double> x(data.size());
  for (size_t i = 0; i < data.size(); ++i) x[i] = data[i][0] * (kN - 1);
  lut[0] = data.front()[2];
  lut[kN - 1] = data.back()[1];
  for (int i = 1; i < kN - 1; ++i) {
    // np.searchsorted(x, i) (side='left'): the first x >= i.
    const size_t ind = static_cast<size_t>(std::lower_bound(x.begin(), x.end(), static_cast<double>(i)) - x.begin());
    const double distance = (i - x[ind - 1]) / (x[ind] - x[ind - 1]);
    lut[i] = distance * (data[ind][1] - data[ind - 1][2]) + data[ind - 1][2];
  }
  for (double& v : lut) v = std::clamp(v, 0.0, 1.0);
  return lut;
}

// A lut channel from a function of x in linspace(0, 1, 256).
std::vector<double> Function(const std::function<double(double)>& f) {
  std::vector<double> lut(kN);
  const double step = 1.0 / (kN - 1);
  for (int i = 0; i < kN; ++i) lut[i] = std::clamp(f(i == kN - 1 ? 1.0 : i * step), 0.0, 1.0);
  return lut;
}

std::vector<std::array<double, 3>> Channels(const std::vector<double>& r, const std::vector<double>& g,
                                            const std::vector<double>& b) {
  std::vector<std::array<double, 3>> lut(kN);
  for (int i = 0; i < kN; ++i) lut[i] = {r[i], g[i], b[i]};
  return lut;
}

std::vector<std::array<double, 3>> Table(const double (*t)[3]) {
  std::vector<std::array<double, 3>> lut(kN);
  for (int i = 0; i < kN; ++i) lut[i] = {t[i][0], t[i][1], t[i][2]};
  return lut;
}

bool BaseLut(const std::string& name, std::vector<std::array<double, 3>>* lut) {
  const double pi = M_PI;
  if (name == "rainbow") {  // matplotlib's gnuplot functions 33, 13, 10
    *lut = Channels(Function([](double x) { return std::abs(2 * x - 0.5); }),
                    Function([pi](double x) { return std::sin(x * pi); }),
                    Function([pi](double x) { return std::cos(x * pi / 2); }));
  } else if (name == "jet") {
    *lut =
        Channels(Segments({{{0, 0, 0}}, {{0.35, 0, 0}}, {{0.66, 1, 1}}, {{0.89, 1, 1}}, {{1, 0.5, 0.5}}}),
                 Segments({{{0, 0, 0}}, {{0.125, 0, 0}}, {{0.375, 1, 1}}, {{0.64, 1, 1}}, {{0.91, 0, 0}}, {{1, 0, 0}}}),
                 Segments({{{0, 0.5, 0.5}}, {{0.11, 1, 1}}, {{0.34, 1, 1}}, {{0.65, 0, 0}}, {{1, 0, 0}}}));
  } else if (name == "cool") {
    *lut = Channels(Segments({{{0, 0, 0}}, {{1, 1, 1}}}), Segments({{{0, 1, 1}}, {{1, 0, 0}}}),
                    Segments({{{0, 1, 1}}, {{1, 1, 1}}}));
  } else if (name == "autumn") {
    *lut = Channels(Segments({{{0, 1, 1}}, {{1, 1, 1}}}), Segments({{{0, 0, 0}}, {{1, 1, 1}}}),
                    Segments({{{0, 0, 0}}, {{1, 0, 0}}}));
  } else if (name == "hsv") {
    *lut = Channels(Segments({{{0, 1, 1}},
                              {{0.158730, 1, 1}},
                              {{0.174603, 0.968750, 0.968750}},
                              {{0.333333, 0.031250, 0.031250}},
                              {{0.349206, 0, 0}},
                              {{0.666667, 0, 0}},
                              {{0.682540, 0.031250, 0.031250}},
                              {{0.841270, 0.968750, 0.968750}},
                              {{0.857143, 1, 1}},
                              {{1, 1, 1}}}),
                    Segments({{{0, 0, 0}},
                              {{0.158730, 0.937500, 0.937500}},
                              {{0.174603, 1, 1}},
                              {{0.507937, 1, 1}},
                              {{0.666667, 0.062500, 0.062500}},
                              {{0.682540, 0, 0}},
                              {{1, 0, 0}}}),
                    Segments({{{0, 0, 0}},
                              {{0.333333, 0, 0}},
                              {{0.349206, 0.062500, 0.062500}},
                              {{0.507937, 1, 1}},
                              {{0.841270, 1, 1}},
                              {{0.857143, 0.937500, 0.937500}},
                              {{1, 0.09375, 0.09375}}}));
  } else if (name == "viridis") {
    *lut = Table(kViridisTable);
  } else if (name == "plasma") {
    *lut = Table(kPlasmaTable);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> Colormap::Names() { return {"rainbow", "jet", "viridis", "plasma", "cool", "autumn", "hsv"}; }

Colormap Colormap::Named(const std::string& name) {
  const bool reversed = name.size() > 2 && name.compare(name.size() - 2, 2, "_r") == 0;
  Colormap c;
  if (!BaseLut(reversed ? name.substr(0, name.size() - 2) : name, &c.lut_)) {
    std::string known;
    for (const auto& n : Names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(Status::InvalidArgument("unknown colormap '" + name + "' (known: " + known + "; _r reverses)"));
  }
  if (reversed) std::reverse(c.lut_.begin(), c.lut_.end());
  return c;
}

std::array<double, 3> Colormap::At(double v) const {
  double x = v * kN;
  if (x == kN) x = kN - 1;
  const int i = std::clamp(static_cast<int>(x), 0, kN - 1);
  return lut_[static_cast<size_t>(i)];
}

std::vector<Rgb> Colormap::Colors(int n) const {
  std::vector<Rgb> out;
  const double step = n > 1 ? 1.0 / (n - 1) : 0;  // np.linspace(0, 1, n)
  for (int i = 0; i < n; ++i) {
    const std::array<double, 3> c = At(n > 1 && i == n - 1 ? 1.0 : i * step);
    auto u8 = [](double v) { return static_cast<uint8_t>(v * 255); };
    out.push_back(Rgb{u8(c[0]), u8(c[1]), u8(c[2])});
  }
  return out;
}

}  // namespace posebatch::viz
