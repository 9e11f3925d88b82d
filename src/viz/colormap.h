// matplotlib's colormaps as DeepLabCut uses them to colour bodyparts and individuals.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace posebatch::viz {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

// A colormap: matplotlib's 256-entry lookup table, built as matplotlib builds it (functions for
// rainbow, linear segments for jet, listed tables for viridis and plasma). Immutable.
class Colormap {
 public:
  // "rainbow" (DeepLabCut's default), "jet", "viridis", "plasma", "cool", "autumn", "hsv";
  // a "_r" suffix reverses. Throws Error (kInvalidArgument) for other names, listing these.
  static Colormap Named(const std::string& name);
  static std::vector<std::string> Names();

  // matplotlib's Colormap(v) for v in [0, 1]: entry min(int(v * 256), 255), in [0, 1].
  std::array<double, 3> At(double v) const;
  // DeepLabCut's colours for n items: (to_rgba(np.linspace(0, 1, n))[:, :3] * 255).astype(uint8).
  std::vector<Rgb> Colors(int n) const;

 private:
  std::vector<std::array<double, 3>> lut_;  // 256 entries
};

}  // namespace posebatch::viz
