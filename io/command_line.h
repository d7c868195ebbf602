// The command line of every Meridian binary built on absl flags: one parser, so `--help` exits 0
// and a bad flag exits with the binary's documented code, instead of absl's exit 1 for both.
#ifndef MERIDIAN_IO_COMMAND_LINE_H_
#define MERIDIAN_IO_COMMAND_LINE_H_

#include <string_view>
#include <vector>

namespace meridian::io {

// Parses argv: `--name=value`, `--name value`, `--bool_flag`, `--nobool_flag`, single-dash
// spellings of each, and `--` ending the flags. `--help` (also -h, --helpfull, --helpshort)
// prints the usage message and every flag linked into the binary (absl's own left out) to stdout
// and exits 0. An unknown flag, a flag without its value or a value that does not parse is
// printed on stderr, one line each, and the process exits with `bad_flag_exit`. Returns argv[0]
// followed by the positional arguments.
std::vector<char*> ParseCommandLineOrExit(int argc, char** argv, int bad_flag_exit = 2);

// Whether ParseCommandLineOrExit set flag `name` (`--name`, `--noname` or `--name=value` was
// given), as opposed to leaving it at its default: for a flag whose default depends on others.
bool FlagGivenOnCommandLine(std::string_view name);

}  // namespace meridian::io

#endif  // MERIDIAN_IO_COMMAND_LINE_H_
