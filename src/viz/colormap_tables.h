// matplotlib's listed colormaps (256 RGB entries in [0, 1]) used by the colormaps of colormap.h.
#pragma once

namespace posebatch::viz {

extern const double kViridisTable[256][3];
extern const double kPlasmaTable[256][3];

}  // namespace posebatch::viz
