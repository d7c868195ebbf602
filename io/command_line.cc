// io::ParseCommandLineOrExit (command_line.h): absl's public flag reflection, our exit codes.
#include "io/command_line.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/internal/program_name.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace meridian::io {
namespace {

// The flags ParseCommandLineOrExit set (absl 20220623 keeps IsSpecifiedOnCommandLine private).
std::set<std::string>& GivenFlags() {
  static auto* const given = new std::set<std::string>();  // Never destroyed: no exit-order race.
  return *given;
}

bool IsHelp(absl::string_view name) {
  return name == "help" || name == "h" || name == "helpfull" || name == "helpshort";
}

// Sets one flag from `--name[=value]` (the dashes already removed); `next` is the following
// argument, taken as the value of a non-boolean flag written `--name value`. Returns the
// error to print, empty on success; `*consumed_next` says whether `next` was used.
std::string SetFlag(absl::string_view arg, const char* next, bool* consumed_next) {
  *consumed_next = false;
  const size_t equals = arg.find('=');
  const bool has_value = equals != absl::string_view::npos;
  absl::string_view name = arg.substr(0, equals);
  std::string value = has_value ? std::string(arg.substr(equals + 1)) : std::string();
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
    flag = absl::FindCommandLineFlag(name.substr(2));
    if (flag != nullptr && !flag->IsOfType<bool>()) return "unknown flag --" + std::string(name);
    if (flag != nullptr) value = "false";
  } else if (flag != nullptr && !has_value) {
    if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (next != nullptr) {
      value = next;
      *consumed_next = true;
    } else {
      return "--" + std::string(name) + " needs a value";
    }
  }
  if (flag == nullptr || flag->IsRetired()) return "unknown flag --" + std::string(name);
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return "--" + std::string(name) + "=" + value + ": " + error;
  }
  GivenFlags().insert(std::string(flag->Name()));
  return "";
}

// The usage message, then every flag the binary accepts (absl's own left out), by source file.
void PrintHelp(const std::string& program) {
  std::map<std::string, std::map<std::string, const absl::CommandLineFlag*>> by_file;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    const std::string file = flag->Filename();
    if (absl::StrContains(file, "absl/")) continue;
    by_file[file][std::string(name)] = flag;
  }
  std::cout << program << ": " << absl::ProgramUsageMessage() << "\n";
  for (const auto& [file, flags] : by_file) {
    std::cout << "\n  Flags from " << file << ":\n";
    for (const auto& [name, flag] : flags) {
      std::cout << "    --" << name << " (default: " << flag->DefaultValue() << ")\n      "
                << flag->Help() << "\n";
    }
  }
  std::cout << "\n  --help, -h: this text.\n";
  std::cout.flush();
}

}  // namespace

std::vector<char*> ParseCommandLineOrExit(int argc, char** argv, int bad_flag_exit) {
  absl::flags_internal::SetProgramInvocationName(argc > 0 ? argv[0] : "");
  std::vector<char*> positional;
  if (argc > 0) positional.push_back(argv[0]);
  bool help = false;
  std::vector<std::string> errors;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") {
      positional.insert(positional.end(), argv + i + 1, argv + argc);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(argv[i]);
      continue;
    }
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    if (IsHelp(arg.substr(0, arg.find('=')))) {
      help = true;
      continue;
    }
    bool consumed_next = false;
    std::string error = SetFlag(arg, i + 1 < argc ? argv[i + 1] : nullptr, &consumed_next);
    if (consumed_next) ++i;
    if (!error.empty()) errors.push_back(std::move(error));
  }
  const std::string program = absl::flags_internal::ShortProgramInvocationName();
  if (help) {
    PrintHelp(program);
    std::exit(0);
  }
  if (!errors.empty()) {
    for (const std::string& error : errors) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), error.c_str());
    }
    std::fprintf(stderr, "%s: see --help\n", program.c_str());
    std::exit(bad_flag_exit);
  }
  return positional;
}

bool FlagGivenOnCommandLine(std::string_view name) {
  return GivenFlags().contains(std::string(name));
}

}  // namespace meridian::io
