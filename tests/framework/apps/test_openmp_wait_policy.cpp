// How cigl-run's OpenMP threads wait: libgomp itself reports the spin count
// it took (OMP_DISPLAY_ENV=VERBOSE prints it on stderr as it starts, once
// per process image), so these tests see what libgomp uses, not what cigl
// meant to set.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace cigl {
namespace {

/// The GOMP_SPINCOUNT values libgomp reported, in order: one per start.
std::vector<std::string> reported_spin_counts(const std::string& env) {
  const auto r =
      test::run_cigl("--help", "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " +
                                   env + " OMP_DISPLAY_ENV=VERBOSE");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--config"), std::string::npos) << r.output;
  std::vector<std::string> counts;
  const std::regex line("GOMP_SPINCOUNT = '([0-9]+)'");
  for (std::sregex_iterator i(r.output.begin(), r.output.end(), line), end;
       i != end; ++i) {
    counts.push_back((*i)[1]);
  }
  return counts;
}

TEST(OpenmpWaitPolicy, UnsetMeansAShortSpinThatLibgompActuallyUses) {
  const auto counts = reported_spin_counts("");
  ASSERT_FALSE(counts.empty()) << "libgomp printed no GOMP_SPINCOUNT";
  // The last image is the one that runs main(): it spins the configured
  // count (3000 by default), not libgomp's default of 300000.
  EXPECT_EQ(counts.back(), CIGL_TEST_OPENMP_SPIN_COUNT);
  EXPECT_LE(counts.size(), 2u) << "executed itself more than once";
}

TEST(OpenmpWaitPolicy, TheUsersSpinCountIsKept) {
  EXPECT_EQ(reported_spin_counts("GOMP_SPINCOUNT=123"),
            std::vector<std::string>{"123"});
}

TEST(OpenmpWaitPolicy, TheUsersWaitPolicyIsKept) {
  // PASSIVE means no spinning at all; cigl adds no spin count to it.
  EXPECT_EQ(reported_spin_counts("OMP_WAIT_POLICY=PASSIVE"),
            std::vector<std::string>{"0"});
}

}  // namespace
}  // namespace cigl
