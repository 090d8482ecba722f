#include "cigl/core/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace cigl::svg {

namespace {

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                               "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

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

std::string document(int width, int height, const std::string& body) {
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " "
      << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << body << "</svg>\n";
  return out.str();
}

std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::vector<Series>& series, int left, int top,
                       int width, int height) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  const double pad = (y1 - y0) * 0.08;
  y0 -= pad;
  y1 += pad;
  const int ml = 56, mr = 12, mt = 28, mb = 40;
  const double pw = width - ml - mr, ph = height - mt - mb;
  auto px = [&](double x) { return ml + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return mt + (1 - (y - y0) / (y1 - y0)) * ph; };

  std::ostringstream out;
  out << "<g transform=\"translate(" << left << "," << top << ")\">\n"
      << "<text x=\"" << width / 2 << "\" y=\"18\" text-anchor=\"middle\" "
      << "font-size=\"14\">" << escape(title) << "</text>\n"
      << "<rect class=\"frame\" x=\"" << ml << "\" y=\"" << mt << "\" width=\""
      << num(pw) << "\" height=\"" << num(ph)
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
    out << "<line x1=\"" << ml << "\" x2=\"" << num(ml + pw) << "\" y1=\""
        << num(py(yv)) << "\" y2=\"" << num(py(yv)) << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << ml - 4 << "\" y=\"" << num(py(yv) + 4)
        << "\" text-anchor=\"end\">" << tick(yv) << "</text>\n"
        << "<text x=\"" << num(px(xv)) << "\" y=\"" << num(mt + ph + 16)
        << "\" text-anchor=\"middle\">" << tick(xv) << "</text>\n";
  }
  out << "<text x=\"" << num(ml + pw / 2) << "\" y=\"" << height - 6
      << "\" text-anchor=\"middle\">" << escape(x_label) << "</text>\n";
  for (std::size_t s = 0; s < series.size(); ++s) {
    const char* color = kColors[s % 8];
    std::string path;
    bool pen_down = false;
    for (std::size_t i = 0; i < series[s].x.size() && i < series[s].y.size();
         ++i) {
      if (!std::isfinite(series[s].y[i])) {
        pen_down = false;
        continue;
      }
      path += (pen_down ? " L " : " M ") + num(px(series[s].x[i])) + " " +
              num(py(series[s].y[i]));
      pen_down = true;
    }
    if (!path.empty()) {
      out << "<path class=\"line\" d=\"" << path << "\" fill=\"none\" "
          << "stroke=\"" << color << "\" stroke-width=\"2\"/>\n";
    }
    for (std::size_t i = 0; i < series[s].x.size() && i < series[s].y.size();
         ++i) {
      if (!std::isfinite(series[s].y[i])) continue;
      out << "<circle class=\"point\" cx=\"" << num(px(series[s].x[i]))
          << "\" cy=\"" << num(py(series[s].y[i])) << "\" r=\"3\" fill=\""
          << color << "\"><title>" << escape(series[s].name) << ": "
          << tick(series[s].x[i]) << ", " << tick(series[s].y[i])
          << "</title></circle>\n";
    }
    if (series.size() > 1) {  // legend
      const int ly = mt + 14 + static_cast<int>(s) * 16;
      out << "<rect x=\"" << num(ml + pw - 110) << "\" y=\"" << ly - 9
          << "\" width=\"10\" height=\"10\" fill=\"" << color << "\"/>\n"
          << "<text x=\"" << num(ml + pw - 96) << "\" y=\"" << ly << "\">"
          << escape(series[s].name) << "</text>\n";
    }
  }
  out << "</g>\n";
  return out.str();
}

std::string reliability_diagram(const ReliabilityBins& bins,
                                const std::string& title) {
  const int size = 420, ml = 56, mt = 40, plot = 320;
  const auto n = bins.count.size();
  auto px = [&](double x) { return ml + x * plot; };
  auto py = [&](double y) { return mt + (1 - y) * plot; };
  std::ostringstream out;
  char heading[160];
  std::snprintf(heading, sizeof heading, "%s (ECE %.4f)", title.c_str(),
                bins.ece);
  out << "<text x=\"" << size / 2 << "\" y=\"24\" text-anchor=\"middle\" "
      << "font-size=\"15\">" << escape(heading) << "</text>\n";
  for (std::size_t b = 0; b < n; ++b) {
    if (bins.count[b] == 0) continue;
    const double lo = static_cast<double>(b) / n, hi = (b + 1.0) / n;
    const double acc = bins.accuracy[b], conf = bins.confidence[b];
    out << "<rect class=\"bar\" x=\"" << num(px(lo)) << "\" y=\""
        << num(py(acc)) << "\" width=\"" << num(px(hi) - px(lo))
        << "\" height=\"" << num(py(0) - py(acc))
        << "\" fill=\"#1f77b4\" stroke=\"#0b3d66\"><title>" << tick(lo) << "-"
        << tick(hi) << ": " << bins.count[b] << " examples, accuracy "
        << tick(acc) << ", confidence " << tick(conf) << "</title></rect>\n";
    // The gap between what the bin claims and what it gets.
    const double top = std::max(acc, conf), bottom = std::min(acc, conf);
    out << "<rect class=\"gap\" x=\"" << num(px(lo)) << "\" y=\""
        << num(py(top)) << "\" width=\"" << num(px(hi) - px(lo))
        << "\" height=\"" << num(py(bottom) - py(top))
        << "\" fill=\"#d62728\" fill-opacity=\"0.35\"/>\n";
  }
  out << "<line class=\"diagonal\" x1=\"" << num(px(0)) << "\" y1=\""
      << num(py(0)) << "\" x2=\"" << num(px(1)) << "\" y2=\"" << num(py(1))
      << "\" stroke=\"#444\" stroke-dasharray=\"5,4\"/>\n"
      << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << plot
      << "\" height=\"" << plot << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    out << "<text x=\"" << num(px(v)) << "\" y=\"" << mt + plot + 16
        << "\" text-anchor=\"middle\">" << tick(v) << "</text>\n"
        << "<text x=\"" << ml - 6 << "\" y=\"" << num(py(v) + 4)
        << "\" text-anchor=\"end\">" << tick(v) << "</text>\n";
  }
  out << "<text x=\"" << ml + plot / 2 << "\" y=\"" << mt + plot + 34
      << "\" text-anchor=\"middle\">confidence</text>\n"
      << "<text transform=\"translate(16," << mt + plot / 2
      << ") rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n"
      << "<rect x=\"" << ml + 8 << "\" y=\"" << mt + 8
      << "\" width=\"10\" height=\"10\" fill=\"#1f77b4\"/>\n"
      << "<text x=\"" << ml + 22 << "\" y=\"" << mt + 17
      << "\">accuracy per bin</text>\n"
      << "<rect x=\"" << ml + 8 << "\" y=\"" << mt + 24
      << "\" width=\"10\" height=\"10\" fill=\"#d62728\" "
         "fill-opacity=\"0.35\"/>\n"
      << "<text x=\"" << ml + 22 << "\" y=\"" << mt + 33
      << "\">gap to mean confidence</text>\n";
  return document(size, size, out.str());
}

}  // namespace cigl::svg
