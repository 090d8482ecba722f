#include "cigl/core/svg.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "cigl/core/number_text.hpp"

namespace cigl::svg {

namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
constexpr int kPaletteSize = 8;

// Pixel coordinates: two decimals are finer than any screen.
std::string px(double v) { return fixed(v, 2); }

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Widens a degenerate range and adds a margin so points sit off the frame.
void settle(Range& r, double margin, double fallback_half_width) {
  if (r.empty()) r = {0, 1};
  if (r.hi == r.lo) {
    const double half = r.lo == 0 ? fallback_half_width
                                  : std::abs(r.lo) * 0.05 + fallback_half_width;
    r.lo -= half;
    r.hi += half;
  }
  const double pad = (r.hi - r.lo) * margin;
  r.lo -= pad;
  r.hi += pad;
}

double tick_step(const std::vector<double>& ticks) {
  return ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
}

}  // namespace

const char* color(int index) {
  return kPalette[((index % kPaletteSize) + kPaletteSize) % kPaletteSize];
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target,
                               double min_step) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  target = std::max(target, 2);
  // Step = multiple * 10^exponent. Ticks are whole multiples of the step,
  // each computed as (k * multiple) / 10^-exponent so 0.84 is the double
  // nearest 0.84, not 84 * 0.01.
  auto ticks = [&](int exponent, double multiple) {
    const double scale = std::pow(10.0, std::abs(exponent));
    auto value = [&](double k) {
      return exponent < 0 ? k * multiple / scale : k * multiple * scale;
    };
    const double step = value(1);
    const double first = std::ceil(lo / step - 1e-9);
    const double last = std::floor(hi / step + 1e-9);
    std::vector<double> out;
    for (double k = first; k <= last && out.size() < 1000; ++k) {
      out.push_back(value(k));
    }
    return out;
  };
  // The finest 1-2-5 step (no finer than min_step) that gives at most
  // target + 1 ticks; a finer one if that leaves fewer than two.
  const int e0 =
      static_cast<int>(std::floor(std::log10((hi - lo) / target))) - 1;
  std::vector<double> previous;
  for (int exponent = e0; exponent <= e0 + 3; ++exponent) {
    for (double multiple : {1.0, 2.0, 5.0}) {
      const double step = multiple * std::pow(10.0, exponent);
      if (step < min_step * (1 - 1e-12)) continue;
      auto out = ticks(exponent, multiple);
      if (out.size() <= static_cast<std::size_t>(target) + 1) {
        return out.size() >= 2 || previous.empty() ? out : previous;
      }
      previous = std::move(out);
    }
  }
  return previous;
}

std::string tick_label(double value, double step) {
  if (std::abs(value) < step * 1e-9) value = 0;  // no "-0" or "1e-17"
  step = std::abs(step);
  if (step >= 1e-4 && std::abs(value) < 1e7) {
    const int digits =
        std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    return fixed(value, digits);
  }
  return significant(value, 3);
}

std::string document(int width, int height, const std::string& body) {
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " "
      << height << "\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
      << "font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << body << "</svg>\n";
  return out.str();
}

std::string legend(const std::vector<std::string>& names,
                   const std::vector<int>& colors, int left, int top,
                   int* height) {
  std::ostringstream out;
  out << "<g class=\"legend\" transform=\"translate(" << left << "," << top
      << ")\">\n";
  for (std::size_t i = 0; i < names.size(); ++i) {
    const int y = static_cast<int>(i) * 20;
    const int c = i < colors.size() ? colors[i] : static_cast<int>(i);
    out << "<rect x=\"0\" y=\"" << y << "\" width=\"14\" height=\"14\" fill=\""
        << color(c) << "\"/>\n"
        << "<text x=\"20\" y=\"" << y + 11 << "\">" << escape(names[i])
        << "</text>\n";
  }
  out << "</g>\n";
  if (height) *height = static_cast<int>(names.size()) * 20;
  return out.str();
}

std::string chart(const Chart& c, int left, int top, int width, int height) {
  Range xr, yr;
  for (const auto& s : c.series) {
    for (std::size_t i = 0; i < s.y.size(); ++i) {
      const double spread =
          i < s.spread.size() && std::isfinite(s.spread[i]) ? s.spread[i] : 0.0;
      if (!s.reference) {
        if (i >= s.x.size() || !std::isfinite(s.x[i])) continue;
        xr.add(s.x[i]);
      }
      if (!std::isfinite(s.y[i])) continue;
      yr.add(s.y[i] - spread);
      yr.add(s.y[i] + spread);
      if (s.reference) break;  // one level
    }
  }
  settle(xr, 0.04, 1.0);
  settle(yr, 0.06, 0.01);
  if (std::isfinite(c.y_min)) yr.lo = c.y_min;
  if (std::isfinite(c.y_max)) yr.hi = c.y_max;
  const auto xt = nice_ticks(xr.lo, xr.hi, 5, c.integer_x ? 1.0 : 0.0);
  const auto yt = nice_ticks(yr.lo, yr.hi, 5);
  const int ml = 66, mr = 14, mt = 30, mb = 44;
  const double pw = width - ml - mr, ph = height - mt - mb;
  auto x_of = [&](double x) { return ml + (x - xr.lo) / (xr.hi - xr.lo) * pw; };
  auto y_of = [&](double y) {
    return mt + (1 - (y - yr.lo) / (yr.hi - yr.lo)) * ph;
  };

  std::ostringstream out;
  out << "<g transform=\"translate(" << left << "," << top << ")\">\n"
      << "<text x=\"" << px(ml + pw / 2) << "\" y=\"18\" "
      << "text-anchor=\"middle\" font-size=\"14\">" << escape(c.title)
      << "</text>\n";
  for (double v : yt) {
    out << "<line x1=\"" << ml << "\" x2=\"" << px(ml + pw) << "\" y1=\""
        << px(y_of(v)) << "\" y2=\"" << px(y_of(v))
        << "\" stroke=\"#e4e4e4\"/>\n"
        << "<text class=\"tick-y\" x=\"" << ml - 5 << "\" y=\""
        << px(y_of(v) + 4) << "\" text-anchor=\"end\">"
        << tick_label(v, tick_step(yt)) << "</text>\n";
  }
  for (double v : xt) {
    out << "<line x1=\"" << px(x_of(v)) << "\" x2=\"" << px(x_of(v))
        << "\" y1=\"" << mt << "\" y2=\"" << px(mt + ph)
        << "\" stroke=\"#e4e4e4\"/>\n"
        << "<text class=\"tick-x\" x=\"" << px(x_of(v)) << "\" y=\""
        << px(mt + ph + 16) << "\" text-anchor=\"middle\">"
        << tick_label(v, tick_step(xt)) << "</text>\n";
  }
  out << "<text x=\"" << px(ml + pw / 2) << "\" y=\"" << height - 8
      << "\" text-anchor=\"middle\">" << escape(c.x_label) << "</text>\n"
      << "<text transform=\"translate(16," << px(mt + ph / 2)
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(c.y_label)
      << "</text>\n";

  for (std::size_t k = 0; k < c.series.size(); ++k) {
    const Series& s = c.series[k];
    const char* col =
        color(k < c.colors.size() ? c.colors[k] : static_cast<int>(k));
    if (s.reference) {
      if (s.y.empty() || !std::isfinite(s.y[0])) continue;
      const double spread =
          !s.spread.empty() && std::isfinite(s.spread[0]) ? s.spread[0] : 0.0;
      if (spread > 0) {
        out << "<rect class=\"reference\" x=\"" << ml << "\" y=\""
            << px(y_of(s.y[0] + spread)) << "\" width=\"" << px(pw)
            << "\" height=\""
            << px(y_of(s.y[0] - spread) - y_of(s.y[0] + spread)) << "\" fill=\""
            << col << "\" fill-opacity=\"0.15\"/>\n";
      }
      out << "<line class=\"reference-line\" x1=\"" << ml << "\" x2=\""
          << px(ml + pw) << "\" y1=\"" << px(y_of(s.y[0])) << "\" y2=\""
          << px(y_of(s.y[0])) << "\" stroke=\"" << col
          << "\" stroke-width=\"2\" stroke-dasharray=\"6,4\"><title>"
          << escape(s.name) << ": " << significant(s.y[0], 4) << "</title>"
          << "</line>\n";
      continue;
    }
    const std::size_t n = std::min(s.x.size(), s.y.size());
    // Band: the upper edge left to right, the lower edge back.
    if (!s.spread.empty()) {
      std::string upper, lower;
      std::size_t points = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(s.y[i]) || i >= s.spread.size()) continue;
        const double d = std::isfinite(s.spread[i]) ? s.spread[i] : 0.0;
        upper += (points ? " L " : "M ") + px(x_of(s.x[i])) + " " +
                 px(y_of(s.y[i] + d));
        lower = " L " + px(x_of(s.x[i])) + " " + px(y_of(s.y[i] - d)) + lower;
        ++points;
      }
      if (points > 1) {
        out << "<path class=\"band\" d=\"" << upper << lower << " Z\" fill=\""
            << col << "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
      }
    }
    std::string path;
    bool pen_down = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.y[i])) {
        pen_down = false;
        continue;
      }
      path += (pen_down ? " L " : " M ") + px(x_of(s.x[i])) + " " +
              px(y_of(s.y[i]));
      pen_down = true;
    }
    if (!path.empty()) {
      out << "<path class=\"line\" d=\"" << path << "\" fill=\"none\" "
          << "stroke=\"" << col << "\" stroke-width=\"2\"/>\n";
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.y[i])) continue;
      out << "<circle class=\"point\" cx=\"" << px(x_of(s.x[i])) << "\" cy=\""
          << px(y_of(s.y[i])) << "\" r=\"3\" fill=\"" << col << "\"><title>"
          << escape(s.name) << ": " << significant(s.x[i], 4) << ", "
          << significant(s.y[i], 4);
      if (i < s.spread.size() && std::isfinite(s.spread[i])) {
        out << " +- " << significant(s.spread[i], 2);
      }
      out << "</title></circle>\n";
    }
  }
  out << "<rect class=\"frame\" x=\"" << ml << "\" y=\"" << mt << "\" width=\""
      << px(pw) << "\" height=\"" << px(ph)
      << "\" fill=\"none\" stroke=\"#444\"/>\n"
      << "</g>\n";
  return out.str();
}

std::string reliability_diagram(const BinSummary& bins,
                                const std::string& title) {
  const int width = 680, height = 600;
  const int ml = 70, plot = 340, top = 70;           // reliability panel
  const int hist_top = top + plot + 22, hist = 100;  // histogram below it
  const auto n = bins.count.size();
  auto x_of = [&](double x) { return ml + x * plot; };
  auto y_of = [&](double y) { return top + (1 - y) * plot; };
  const char* const kBar = "#1f77b4";
  const char* const kOver = "#d62728";
  const char* const kUnder = "#ff7f0e";

  std::ostringstream out;
  out << "<text x=\"" << width / 2 << "\" y=\"24\" text-anchor=\"middle\" "
      << "font-size=\"15\">" << escape(title) << "</text>\n"
      << "<text x=\"" << width / 2 << "\" y=\"44\" text-anchor=\"middle\">"
      << "ECE " << fixed(bins.ece, 4) << " over " << n << " equal-width bins, "
      << fixed(bins.total, 0) << " examples</text>\n";
  // Grid and ticks of the reliability panel.
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    out << "<line x1=\"" << ml << "\" x2=\"" << ml + plot << "\" y1=\""
        << px(y_of(v)) << "\" y2=\"" << px(y_of(v))
        << "\" stroke=\"#e4e4e4\"/>\n"
        << "<line x1=\"" << px(x_of(v)) << "\" x2=\"" << px(x_of(v))
        << "\" y1=\"" << top << "\" y2=\"" << hist_top + hist
        << "\" stroke=\"#e4e4e4\"/>\n"
        << "<text class=\"tick-y\" x=\"" << ml - 5 << "\" y=\""
        << px(y_of(v) + 4) << "\" text-anchor=\"end\">" << tick_label(v, 0.2)
        << "</text>\n"
        << "<text class=\"tick-x\" x=\"" << px(x_of(v)) << "\" y=\""
        << hist_top + hist + 16 << "\" text-anchor=\"middle\">"
        << tick_label(v, 0.2) << "</text>\n";
  }
  for (std::size_t b = 0; b < n; ++b) {
    if (!(bins.count[b] > 0)) continue;
    const double lo = bins.lower[b], hi = bins.upper[b];
    const double acc = bins.accuracy[b], conf = bins.confidence[b];
    const std::string x = px(x_of(lo)), w = px(x_of(hi) - x_of(lo));
    const std::string tip = "<title>" + fixed(lo, 3) + " to " + fixed(hi, 3) +
                            ": " + fixed(bins.count[b], 0) +
                            " examples, accuracy " + fixed(acc, 4) +
                            ", mean confidence " + fixed(conf, 4) + "</title>";
    // The bar reaches the bin's accuracy. Where the model is
    // under-confident, the part above its confidence is the gap.
    const double blue = std::min(acc, conf);
    out << "<rect class=\"bar\" x=\"" << x << "\" y=\"" << px(y_of(blue))
        << "\" width=\"" << w << "\" height=\"" << px(y_of(0) - y_of(blue))
        << "\" fill=\"" << kBar << "\" stroke=\"#0b3d66\">" << tip
        << "</rect>\n";
    if (conf > acc) {
      out << "<rect class=\"gap-over\" x=\"" << x << "\" y=\"" << px(y_of(conf))
          << "\" width=\"" << w << "\" height=\"" << px(y_of(acc) - y_of(conf))
          << "\" fill=\"" << kOver << "\" fill-opacity=\"0.45\" stroke=\""
          << kOver << "\">" << tip << "</rect>\n";
    } else if (acc > conf) {
      out << "<rect class=\"gap-under\" x=\"" << x << "\" y=\"" << px(y_of(acc))
          << "\" width=\"" << w << "\" height=\"" << px(y_of(conf) - y_of(acc))
          << "\" fill=\"" << kUnder
          << "\" fill-opacity=\"0.8\" stroke=\"#b35806\">" << tip
          << "</rect>\n";
    }
  }
  out << "<line class=\"diagonal\" x1=\"" << px(x_of(0)) << "\" y1=\""
      << px(y_of(0)) << "\" x2=\"" << px(x_of(1)) << "\" y2=\"" << px(y_of(1))
      << "\" stroke=\"#444\" stroke-dasharray=\"5,4\"/>\n"
      << "<rect class=\"frame\" x=\"" << ml << "\" y=\"" << top << "\" width=\""
      << plot << "\" height=\"" << plot
      << "\" fill=\"none\" stroke=\"#444\"/>\n"
      << "<text transform=\"translate(18," << top + plot / 2
      << ") rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n";

  // Histogram: share of the examples per bin, with the mean confidence and
  // the accuracy over all examples marked.
  double most = 0, mean_conf = 0, mean_acc = 0;
  for (std::size_t b = 0; b < n; ++b) {
    if (!(bins.count[b] > 0)) continue;
    most = std::max(most, bins.count[b] / bins.total);
    mean_conf += bins.count[b] * bins.confidence[b] / bins.total;
    mean_acc += bins.count[b] * bins.accuracy[b] / bins.total;
  }
  const auto share_ticks = nice_ticks(0, std::max(most, 0.01) * 100, 3);
  const double hist_max =
      std::max(most * 100, share_ticks.empty() ? 1.0 : share_ticks.back());
  auto h_of = [&](double percent) {
    return hist_top + hist - percent / hist_max * hist;
  };
  for (double v : share_ticks) {
    out << "<line x1=\"" << ml << "\" x2=\"" << ml + plot << "\" y1=\""
        << px(h_of(v)) << "\" y2=\"" << px(h_of(v))
        << "\" stroke=\"#e4e4e4\"/>\n"
        << "<text class=\"tick-y\" x=\"" << ml - 5 << "\" y=\""
        << px(h_of(v) + 4) << "\" text-anchor=\"end\">"
        << tick_label(v, tick_step(share_ticks)) << "</text>\n";
  }
  for (std::size_t b = 0; b < n; ++b) {
    if (!(bins.count[b] > 0)) continue;
    const double percent = bins.count[b] / bins.total * 100;
    out << "<rect class=\"count\" x=\"" << px(x_of(bins.lower[b])) << "\" y=\""
        << px(h_of(percent)) << "\" width=\""
        << px(x_of(bins.upper[b]) - x_of(bins.lower[b])) << "\" height=\""
        << px(hist_top + hist - h_of(percent))
        << "\" fill=\"#8c8c8c\" stroke=\"#555\"><title>"
        << fixed(bins.count[b], 0) << " examples (" << fixed(percent, 1)
        << "%)</title></rect>\n";
  }
  if (bins.total > 0) {
    out << "<line class=\"mean-confidence\" x1=\"" << px(x_of(mean_conf))
        << "\" x2=\"" << px(x_of(mean_conf)) << "\" y1=\"" << hist_top
        << "\" y2=\"" << hist_top + hist
        << "\" stroke=\"#222\" stroke-width=\"2\" stroke-dasharray=\"6,3\"/>\n"
        << "<line class=\"mean-accuracy\" x1=\"" << px(x_of(mean_acc))
        << "\" x2=\"" << px(x_of(mean_acc)) << "\" y1=\"" << hist_top
        << "\" y2=\"" << hist_top + hist
        << "\" stroke=\"#2ca02c\" stroke-width=\"2\"/>\n";
  }
  out << "<rect class=\"frame\" x=\"" << ml << "\" y=\"" << hist_top
      << "\" width=\"" << plot << "\" height=\"" << hist
      << "\" fill=\"none\" stroke=\"#444\"/>\n"
      << "<text transform=\"translate(18," << hist_top + hist / 2
      << ") rotate(-90)\" text-anchor=\"middle\">% of examples</text>\n"
      << "<text x=\"" << ml + plot / 2 << "\" y=\"" << hist_top + hist + 36
      << "\" text-anchor=\"middle\">confidence (top-class probability)"
      << "</text>\n";

  // Legend to the right of the panels, each swatch drawn as in the plot.
  const int lx = ml + plot + 24;
  int ly = top + 4;
  auto swatch = [&](const std::string& style, const std::string& text) {
    out << "<rect class=\"legend\" x=\"" << lx << "\" y=\"" << ly
        << "\" width=\"16\" height=\"12\" " << style << "/>\n"
        << "<text x=\"" << lx + 22 << "\" y=\"" << ly + 10 << "\">"
        << escape(text) << "</text>\n";
    ly += 22;
  };
  auto line = [&](const std::string& style, const std::string& text) {
    out << "<line class=\"legend\" x1=\"" << lx << "\" x2=\"" << lx + 16
        << "\" y1=\"" << ly + 6 << "\" y2=\"" << ly + 6 << "\" " << style
        << "/>\n<text x=\"" << lx + 22 << "\" y=\"" << ly + 10 << "\">"
        << escape(text) << "</text>\n";
    ly += 22;
  };
  swatch(std::string("fill=\"") + kBar + "\" stroke=\"#0b3d66\"",
         "accuracy of the bin");
  swatch(std::string("fill=\"") + kOver + "\" fill-opacity=\"0.45\" stroke=\"" +
             kOver + "\"",
         "over-confident gap");
  swatch(std::string("fill=\"") + kUnder +
             "\" fill-opacity=\"0.8\" stroke=\"#b35806\"",
         "under-confident gap");
  line("stroke=\"#444\" stroke-dasharray=\"5,4\"", "perfect calibration");
  ly = hist_top + 4;
  swatch("fill=\"#8c8c8c\" stroke=\"#555\"", "examples in the bin");
  line("stroke=\"#222\" stroke-width=\"2\" stroke-dasharray=\"6,3\"",
       "mean confidence " + fixed(mean_conf, 3));
  line("stroke=\"#2ca02c\" stroke-width=\"2\"",
       "accuracy " + fixed(mean_acc, 3));
  return document(width, height, out.str());
}

}  // namespace cigl::svg
