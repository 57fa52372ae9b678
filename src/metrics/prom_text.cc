#include "metrics/prom_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vmstore::metrics {

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {  // the shortest form that reads back as v
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

namespace {

// Escapes \\ and newlines, and with `quotes` also " (label values; HELP text keeps them).
std::string Escape(const std::string& v, bool quotes) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(const std::string& v) { return Escape(v, true); }

void PromText::Family(const std::string& name, const char* type, const std::string& help) {
  out_ += "# HELP " + name + " " + Escape(help, false) + "\n";
  out_ += "# TYPE " + name + " " + type + "\n";
}

void PromText::Line(const std::string& name, const Labels& labels, const std::string& value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + value + '\n';
}

void PromText::Sample(const std::string& name, const Labels& labels, double value) {
  Line(name, labels, FormatValue(value));
}

void PromText::Sample(const std::string& name, const Labels& labels, uint64_t value) {
  Line(name, labels, std::to_string(value));
}

void PromText::Histogram(const std::string& name, const Labels& labels, const std::vector<double>& bounds,
                         const std::vector<uint64_t>& counts, double sum) {
  uint64_t cumulative = 0;
  Labels l = labels;
  l.emplace_back("le", "");
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    l.back().second = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    Line(name + "_bucket", l, std::to_string(cumulative));
  }
  Line(name + "_sum", labels, FormatValue(sum));
  Line(name + "_count", labels, std::to_string(cumulative));
}

}  // namespace vmstore::metrics
