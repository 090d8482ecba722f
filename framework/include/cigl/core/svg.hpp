#pragma once
// Charts written as plain SVG text: no plotting runtime, any browser shows
// them. Elements carry classes ("bar", "gap", "point", "line") so tests and
// tools can find them.
#include <string>
#include <vector>

#include "cigl/core/calibration.hpp"
#include "cigl/export.hpp"

namespace cigl::svg {

struct Series {
  std::string name;
  std::vector<double> x, y;  ///< NaN y values leave a gap
};

/// One chart as a group of `width` x `height` pixels at (left, top).
CIGL_API std::string line_chart(const std::string& title,
                                const std::string& x_label,
                                const std::vector<Series>& series, int left,
                                int top, int width, int height);

/// A complete SVG document of the given size holding `body`.
CIGL_API std::string document(int width, int height, const std::string& body);

/// Reliability diagram: per bin a bar of accuracy, the diagonal of perfect
/// calibration, the gap between each bar and the bin's mean confidence
/// shaded; ECE in the title.
CIGL_API std::string reliability_diagram(const ReliabilityBins& bins,
                                         const std::string& title);

/// XML-escapes text for element content and attributes.
CIGL_API std::string escape(const std::string& text);

}  // namespace cigl::svg
