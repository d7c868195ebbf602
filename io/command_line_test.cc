// io::ParseCommandLineOrExit: every spelling sets its flag, --help exits 0 with the flags of the
// named file, and each kind of bad flag exits with the binary's code after saying which flag.
#include "io/command_line.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, cl_count, 1, "a number");
ABSL_FLAG(bool, cl_switch, false, "a switch");
ABSL_FLAG(std::string, cl_name, "", "a name");
ABSL_FLAG(bool, cl_given, false, "a switch only FlagGivenOnCommandLine's test sets");

namespace meridian::io {
namespace {

// Runs the parser over `args` (argv[0] added) and returns the positional arguments.
std::vector<std::string> Parse(std::vector<std::string> args, int bad_flag_exit = 2) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::vector<std::string> positional;
  for (char* arg :
       ParseCommandLineOrExit(static_cast<int>(argv.size()), argv.data(), bad_flag_exit)) {
    positional.emplace_back(arg);
  }
  return positional;
}

TEST(CommandLine, EverySpellingSetsItsFlagAndPositionalArgumentsAreKept) {
  EXPECT_EQ(Parse({"--cl_count=5", "a", "-cl_switch", "--cl_name", "x y", "b"}),
            (std::vector<std::string>{"prog", "a", "b"}));
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 5);
  EXPECT_TRUE(absl::GetFlag(FLAGS_cl_switch));
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_name), "x y");
  EXPECT_EQ(Parse({"--nocl_switch", "--", "--cl_count=7"}),
            (std::vector<std::string>{"prog", "--cl_count=7"}));
  EXPECT_FALSE(absl::GetFlag(FLAGS_cl_switch));
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 5);
  Parse({"--cl_switch=true", "-cl_count", "9"});
  EXPECT_TRUE(absl::GetFlag(FLAGS_cl_switch));
  EXPECT_EQ(absl::GetFlag(FLAGS_cl_count), 9);
}

// A flag given at its default value counts as given (meridian-sim's --damage_at_rest=false
// turns off a default that depends on --replicas); one never given does not.
TEST(CommandLine, SaysWhichFlagsWereGiven) {
  Parse({"--cl_count=3"});
  EXPECT_TRUE(FlagGivenOnCommandLine("cl_count"));
  EXPECT_FALSE(FlagGivenOnCommandLine("cl_given"));
  EXPECT_FALSE(FlagGivenOnCommandLine("no_such_flag"));
  Parse({"--nocl_given"});
  EXPECT_TRUE(FlagGivenOnCommandLine("cl_given"));
  EXPECT_FALSE(absl::GetFlag(FLAGS_cl_given));
}

TEST(CommandLineDeathTest, HelpExitsZeroAndListsTheFilesFlags) {
  // The usage goes to stdout; the child sends it to stderr, where EXPECT_EXIT can read it.
  for (const char* help : {"--help", "-h", "--helpfull", "-help"}) {
    EXPECT_EXIT(
        {
          dup2(STDERR_FILENO, STDOUT_FILENO);
          Parse({"--cl_count=oops", help});
        },
        testing::ExitedWithCode(0),
        "Flags from io/command_line_test.cc:.*--cl_count \\(default: 1\\)\n      a number")
        << help;
  }
}

TEST(CommandLineDeathTest, EachBadFlagExitsWithTheBinarysCodeAndNamesTheFlag) {
  EXPECT_EXIT(Parse({"--cl_bogus=1"}), testing::ExitedWithCode(2), "unknown flag --cl_bogus");
  EXPECT_EXIT(Parse({"--cl_count=abc"}), testing::ExitedWithCode(2), "--cl_count=abc");
  EXPECT_EXIT(Parse({"--cl_count"}), testing::ExitedWithCode(2), "--cl_count needs a value");
  EXPECT_EXIT(Parse({"--nocl_count"}), testing::ExitedWithCode(2), "unknown flag --nocl_count");
  EXPECT_EXIT(Parse({"--cl_switch=maybe"}), testing::ExitedWithCode(2), "--cl_switch=maybe");
  EXPECT_EXIT(Parse({"--cl_bogus"}, 3), testing::ExitedWithCode(3), "unknown flag --cl_bogus");
}

}  // namespace
}  // namespace meridian::io
