#include "util/log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/testing.h"

namespace vmstore::logging {
namespace {

TEST(LogTest, TextLinesQuoteWhatIsNotAPlainWord) {
  EXPECT_EQ(FormatLine(Format::kText, "T", Level::kInfo, "nbd", "connection opened",
                       {{"client", "127.0.0.1"}, {"export", "web/root"}, {"n", uint64_t{3}}}),
            "T info  nbd: connection opened client=127.0.0.1 export=web/root n=3");
  EXPECT_EQ(
      FormatLine(Format::kText, "", Level::kWarn, "policy", "failed", {{"error", "no space: \"x\"=1"}, {"empty", ""}}),
      "warn  policy: failed error=\"no space: \\\"x\\\"=1\" empty=\"\"");
}

TEST(LogTest, JsonLinesAreObjectsWithNumbersKept) {
  std::string line = FormatLine(Format::kJson, "2026-11-24T00:00:00.000Z", Level::kError, "nbd", "request failed",
                                {{"export", "a\"b"}, {"offset", uint64_t{4096}}, {"rc", -2}});
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-11-24T00:00:00.000Z");
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["component"], "nbd");
  EXPECT_EQ(j["msg"], "request failed");
  EXPECT_EQ(j["export"], "a\"b");
  EXPECT_EQ(j["offset"], 4096);
  EXPECT_EQ(j["rc"], -2);
}

TEST(LogTest, TheLevelFiltersAndTheFileGetsTheLines) {
  vmstore::testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string file = dir.path() + "/log";
  Options o;
  o.level = Level::kWarn;
  o.format = Format::kJson;
  o.file = file;
  ASSERT_TRUE(Init(o).ok());
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  Info("t", "not written");
  Warn("t", "written", {{"k", "v"}});
  Error("t", "also written");
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "written");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "error");
  o = Options();
  o.level = Level::kOff;
  ASSERT_TRUE(Init(o).ok());
  EXPECT_FALSE(Enabled(Level::kError));
  o = Options();
  o.file = file + "/under/a/file";
  EXPECT_EQ(Init(o).code(), Code::kIOError);
  ASSERT_TRUE(Init(Options()).ok());  // back to stderr, info
}

TEST(LogTest, LevelAndFormatNames) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(ParseLevel("loud").status().message(),
            "log level 'loud' is not one of trace, debug, info, warn, error, off");
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("xml").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace vmstore::logging
