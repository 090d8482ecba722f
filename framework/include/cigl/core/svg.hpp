#pragma once
// Charts written as plain SVG text: no plotting runtime, any browser shows
// them, rsvg-convert turns them into PNG. Elements carry classes ("bar",
// "gap-over", "gap-under", "count", "point", "line", "band", "reference",
// "legend", "tick-x", "tick-y") so tests and tools can find them.
#include <limits>
#include <string>
#include <vector>

#include "cigl/binning.hpp"
#include "cigl/export.hpp"

namespace cigl::svg {

struct Series {
  std::string name;
  std::vector<double> x, y;  ///< NaN y values leave a gap
  /// Per point, the half-width of a shaded band around y (a standard
  /// deviation); empty: no band.
  std::vector<double> spread;
  /// A level rather than a curve (e.g. dense beside sparse runs): y[0]
  /// +- spread[0] drawn as a band across the whole x range; x unused.
  bool reference = false;
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  /// Colour per series (index into the palette); empty: the series' index.
  std::vector<int> colors;
  bool integer_x = false;  ///< x ticks at whole numbers only (epochs)
  /// Fixed y range where finite (e.g. density in [0, 1]); else the data's.
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

/// Tick positions in steps of 1, 2 or 5 times a power of ten (and at least
/// `min_step`), at least `lo` and at most `hi`, about `target` of them
/// (never fewer than two when lo < hi and min_step allows).
CIGL_API std::vector<double> nice_ticks(double lo, double hi, int target = 5,
                                        double min_step = 0);

/// A tick's label with just the digits its step needs: 0.84, 85, 2e-05.
CIGL_API std::string tick_label(double value, double step);

/// One chart as a group of `width` x `height` pixels at (left, top): title,
/// framed plot area, nice ticks and grid, both axis labels, bands, lines
/// and points. No legend: see legend().
CIGL_API std::string chart(const Chart& chart, int left, int top, int width,
                           int height);

/// A legend as a column of colour swatches and names at (left, top),
/// colour i of the palette for names[i] unless `colors` says otherwise;
/// `height` receives its height in pixels.
CIGL_API std::string legend(const std::vector<std::string>& names,
                            const std::vector<int>& colors, int left, int top,
                            int* height = nullptr);

/// The palette colour of index i (cycles).
CIGL_API const char* color(int index);

/// A complete SVG document of the given size holding `body`.
CIGL_API std::string document(int width, int height, const std::string& body);

/// Reliability diagram (Guo et al. 2017): per bin a bar of accuracy
/// against the diagonal of perfect calibration, the gap to the bin's mean
/// confidence shaded in one colour where the model is over-confident and
/// another where it is under-confident; below it, the share of examples
/// per bin with the mean confidence and the accuracy marked. `title` is
/// the first line; the second gives ECE, bins and examples.
CIGL_API std::string reliability_diagram(const BinSummary& bins,
                                         const std::string& title);

/// XML-escapes text for element content and attributes.
CIGL_API std::string escape(const std::string& text);

}  // namespace cigl::svg
