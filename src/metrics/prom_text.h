// PromText: builds the Prometheus text exposition format (version 0.0.4), the
// body of GET /metrics.
//
// Example:
//   PromText t;
//   t.Family("vmstore_nbd_requests_total", "counter", "NBD requests served");
//   t.Sample("vmstore_nbd_requests_total", {{"export", "web/root"}, {"op", "read"}}, 42);
//   std::string body = t.Take();
//
// Each family's HELP and TYPE lines come before its samples; a family's
// samples must follow its Family() call without another family in between
// (the format requires it). Label values are escaped (\\, \", \n); metric and
// label names are the caller's constants and must match [a-zA-Z_:][a-zA-Z0-9_:]*.
// Values: integers exactly, others in the shortest form that reads back the same, +Inf, NaN.
// Thread-safety: none (one per scrape).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vmstore::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class PromText {
 public:
  // type: counter | gauge | histogram.
  void Family(const std::string& name, const char* type, const std::string& help);
  void Sample(const std::string& name, const Labels& labels, double value);
  void Sample(const std::string& name, const Labels& labels, uint64_t value);
  // A histogram's series: NAME_bucket{...,le=B} (cumulative), NAME_bucket{le="+Inf"},
  // NAME_sum and NAME_count. `counts` has one count per bound plus the +Inf
  // bucket's, not cumulative.
  void Histogram(const std::string& name, const Labels& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& counts, double sum);
  std::string Take() { return std::move(out_); }

 private:
  void Line(const std::string& name, const Labels& labels, const std::string& value);
  std::string out_;
};

// The value as the format writes it: "+Inf", "-Inf", "NaN", an integer when it
// is one (below 2^53), else the shortest %g form that reads back as `v`.
std::string FormatValue(double v);
// `v` with \\, \" and newlines escaped, for a label value.
std::string EscapeLabelValue(const std::string& v);

}  // namespace vmstore::metrics
