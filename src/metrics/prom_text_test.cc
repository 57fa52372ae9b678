#include "metrics/prom_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace vmstore::metrics {
namespace {

TEST(PromTextTest, ValuesAreWrittenTheWayTheFormatReadsThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(2.5e-5), "2.5e-05");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1.0 / 3), "0.3333333333333333");  // the shortest form that reads back
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(1e300), "1e+300");  // an integer past 2^53 is not printed digit by digit
}

TEST(PromTextTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("web/root@snap_20261124T10:00:00"), "web/root@snap_20261124T10:00:00");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  PromText t;
  t.Family("x_total", "counter", "help with \\ and\nnewline");
  t.Sample("x_total", {{"vm", "q\"uote"}, {"op", "read"}}, uint64_t{7});
  t.Sample("x_total", {}, 1.5);
  EXPECT_EQ(t.Take(),
            "# HELP x_total help with \\\\ and\\nnewline\n"
            "# TYPE x_total counter\n"
            "x_total{vm=\"q\\\"uote\",op=\"read\"} 7\n"
            "x_total 1.5\n");
}

TEST(PromTextTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  PromText t;
  t.Family("lat_seconds", "histogram", "latency");
  t.Histogram("lat_seconds", {{"op", "read"}}, {0.001, 0.01}, {2, 0, 3}, 0.25);
  EXPECT_EQ(t.Take(),
            "# HELP lat_seconds latency\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n"
            "lat_seconds_bucket{op=\"read\",le=\"0.01\"} 2\n"
            "lat_seconds_bucket{op=\"read\",le=\"+Inf\"} 5\n"
            "lat_seconds_sum{op=\"read\"} 0.25\n"
            "lat_seconds_count{op=\"read\"} 5\n");
}

}  // namespace
}  // namespace vmstore::metrics
